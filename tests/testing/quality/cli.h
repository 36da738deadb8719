// The `linkd-quality` command as a function, so tests can run it without a
// subprocess:
//
//   linkd-quality --truth TRUTH.csv --links LINKS.csv [--format text|json]
//                 [--min-f1 X] [--min-cross-source-f1 X]
//
// TRUTH.csv is source,record_id,person_id[,origin] (linkd-synth's
// truth.csv); LINKS.csv is source,record_id,sui (`linkctl links --format
// csv`); "-" reads standard input. Prints the figures of evaluate.h.
#ifndef LINKD_TESTS_TESTING_QUALITY_CLI_H_
#define LINKD_TESTS_TESTING_QUALITY_CLI_H_

#include <string>
#include <vector>

namespace linkd::quality {

// Runs the command with `args` (without the program name), writing the
// report to `*out` and problems to `*err`. Returns the exit status: 0 on
// success, 1 if an input cannot be read or parsed, 2 on a usage error, 3 if
// an F1 is below a --min-* threshold (or undefined). Thread-compatible.
int RunQualityCommand(const std::vector<std::string>& args, std::string* out,
                      std::string* err);

}  // namespace linkd::quality

#endif  // LINKD_TESTS_TESTING_QUALITY_CLI_H_
