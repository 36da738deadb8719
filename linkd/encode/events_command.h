// `linkd-encode events`: the event-encoding subcommand of linkd-encode
// (argument parsing and wiring; the work is in event_encoder.h).
#ifndef LINKD_ENCODE_EVENTS_COMMAND_H_
#define LINKD_ENCODE_EVENTS_COMMAND_H_

namespace linkd::encode {

// Runs `linkd-encode events ARGS...`; `argv[0]` is "events". Returns the
// process exit status (0 all rows encoded, 3 some rejected, 2 usage error,
// 1 other failure). Prints no clear value.
int RunEventsCommand(int argc, char** argv);

}  // namespace linkd::encode

#endif  // LINKD_ENCODE_EVENTS_COMMAND_H_
