// Loading and checking of policy files: text-format parsing with positions,
// then semantic checks that name the file and line of the offending entry.
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <system_error>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "google/protobuf/io/tokenizer.h"
#include "google/protobuf/text_format.h"
#include "linkd/util/status_macros.h"
#include "policies/engine/policy_set_internal.h"

namespace linkd::policy::internal {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::TextFormat;
using ParseInfoTree = TextFormat::ParseInfoTree;

constexpr size_t kMaxErrors = 50;

// Collects problems as "file:line:column: reason" lines.
class Errors {
 public:
  void Add(const Location& where, absl::string_view reason) {
    ++count_;
    if (lines_.size() < kMaxErrors) {
      lines_.push_back(absl::StrCat(where.ToString(), ": ", reason));
    }
  }
  bool empty() const { return count_ == 0; }
  absl::Status ToStatus() const {
    if (count_ == 0) return absl::OkStatus();
    std::string message = absl::StrJoin(lines_, "\n");
    if (count_ > lines_.size()) {
      absl::StrAppend(&message, "\n... and ", count_ - lines_.size(),
                      " more problems");
    }
    return absl::InvalidArgumentError(message);
  }

 private:
  size_t count_ = 0;
  std::vector<std::string> lines_;
};

// Forwards text-format syntax errors, with their position, to Errors.
class SyntaxErrors : public google::protobuf::io::ErrorCollector {
 public:
  SyntaxErrors(std::string file, absl::string_view contents, Errors* errors)
      : file_(std::move(file)), contents_(contents), errors_(errors) {}
  void AddError(int line, google::protobuf::io::ColumnNumber column,
                const std::string& message) override {
    MovePastValueBack(message, &line, &column);
    errors_->Add(Location{file_, line + 1, column + 1},
                 absl::StrCat("syntax error: ", message));
  }
  void AddWarning(int, google::protobuf::io::ColumnNumber,
                  const std::string&) override {}

 private:
  // protobuf reports an unknown enum value at the token after it (often
  // the next line); point at the value itself, found by searching back.
  void MovePastValueBack(const std::string& message, int* line,
                         google::protobuf::io::ColumnNumber* column) const {
    constexpr absl::string_view kPrefix = "Unknown enumeration value of \"";
    if (!absl::StartsWith(message, kPrefix)) return;
    const size_t end = message.find('"', kPrefix.size());
    if (end == std::string::npos) return;
    const std::string value =
        message.substr(kPrefix.size(), end - kPrefix.size());
    // Offset of (line, column), columns counting bytes (tabs aside).
    size_t offset = 0;
    for (int l = 0; l < *line && offset != absl::string_view::npos; ++l) {
      offset = contents_.find('\n', offset);
      if (offset != absl::string_view::npos) ++offset;
    }
    if (offset == absl::string_view::npos) return;
    offset = std::min(contents_.size(), offset + static_cast<size_t>(*column));
    const size_t at = contents_.substr(0, offset).rfind(value);
    if (at == absl::string_view::npos || value.empty()) return;
    const absl::string_view before = contents_.substr(0, at);
    *line = static_cast<int>(std::count(before.begin(), before.end(), '\n'));
    const size_t line_start = before.rfind('\n');
    *column = static_cast<int>(
        line_start == absl::string_view::npos ? at : at - line_start - 1);
  }

  std::string file_;
  absl::string_view contents_;
  Errors* errors_;
};

struct ParsedFile {
  std::string display;  // the name shown in errors
  v1::PolicyFile proto;
  ParseInfoTree tree;
};

const FieldDescriptor* FieldOf(const Descriptor* d, absl::string_view name) {
  return d == nullptr ? nullptr : d->FindFieldByName(std::string(name));
}

// The position of one value of a field in a parse tree, if recorded.
bool LocationIn(const ParseInfoTree* tree, const FieldDescriptor* field,
                int index, const std::string& file, Location* out) {
  if (tree == nullptr || field == nullptr) return false;
  TextFormat::ParseLocation at = tree->GetLocation(field, index);
  if (at.line < 0) return false;
  *out = Location{file, at.line + 1, at.column + 1};
  return true;
}

// One message entry of a parsed file (e.g. the third `rules { }`), able to
// say where any of its fields was written.
class Entry {
 public:
  // The index-th value of message field `field_name` of `descriptor`, whose
  // positions are in `parent_tree`.
  Entry(const ParsedFile& file, const ParseInfoTree* parent_tree,
        const Descriptor* descriptor, absl::string_view field_name, int index)
      : file_(&file) {
    const FieldDescriptor* field = FieldOf(descriptor, field_name);
    where_ = Location{file.display, 0, 0};
    LocationIn(parent_tree, field, index, file.display, &where_);
    if (parent_tree != nullptr && field != nullptr) {
      tree_ = parent_tree->GetTreeForNested(field, index);
      descriptor_ = field->message_type();
    }
  }

  const Location& where() const { return where_; }

  // Where field `name` (its index-th value if repeated) was written, or the
  // entry's own position if it was not.
  Location At(absl::string_view name, int index = -1) const {
    Location at = where_;
    const FieldDescriptor* field = FieldOf(descriptor_, name);
    // The parser records one position for a whole list ("roles: [a, b]"),
    // so a later index falls back to the nearest earlier recorded value.
    for (int i = index; i >= -1; --i) {
      if (LocationIn(tree_, field, i, file_->display, &at)) break;
      if (i == 0 || index == -1) break;
    }
    return at;
  }

  // The nested message field `name` of this entry.
  Entry Nested(absl::string_view name) const {
    Entry e(*file_, tree_, descriptor_, name, -1);
    if (e.where_.line == 0) e.where_ = where_;
    return e;
  }

 private:
  const ParsedFile* file_;
  Location where_;
  const ParseInfoTree* tree_ = nullptr;
  const Descriptor* descriptor_ = nullptr;
};

bool IsSnakeCase(absl::string_view s) {
  if (s.empty() || s.size() > 64 || !absl::ascii_islower(s[0])) return false;
  for (char c : s) {
    if (!absl::ascii_islower(c) && !absl::ascii_isdigit(c) && c != '_') {
      return false;
    }
  }
  return true;
}

bool IsRuleId(absl::string_view s) {
  if (s.empty() || s.size() > 100) return false;
  if (!absl::ascii_islower(s[0]) && !absl::ascii_isdigit(s[0])) return false;
  for (char c : s) {
    if (!absl::ascii_islower(c) && !absl::ascii_isdigit(c) && c != '-' &&
        c != '_' && c != '.') {
      return false;
    }
  }
  return true;
}

bool IsLaCode(absl::string_view s) {
  return s.size() == 3 && absl::ascii_isdigit(s[0]) &&
         absl::ascii_isdigit(s[1]) && absl::ascii_isdigit(s[2]);
}

bool Blank(absl::string_view s) {
  return absl::StripAsciiWhitespace(s).empty();
}

// For "6(1)(e) public task" with prefix "6(1)(" and last point 'f': 'e'.
// Returns 0 if the text does not start with a valid reference followed by a
// name.
char BasisPoint(absl::string_view text, absl::string_view prefix, char last) {
  text = absl::StripAsciiWhitespace(text);
  if (!absl::ConsumePrefix(&text, prefix)) return 0;
  if (text.size() < 2 || text[1] != ')') return 0;
  const char point = text[0];
  if (point < 'a' || point > last) return 0;
  if (Blank(text.substr(2))) return 0;
  return point;
}

// The Schedule 1 condition an Article 9(2) point needs (DPA 2018 s.10):
// part 0 if none; for Part 2 any paragraph from 6 to 28.
struct Schedule1Need {
  uint32_t part;
  uint32_t paragraph;  // 0 for "any Part 2 paragraph"
};
Schedule1Need NeedFor(char article_9_point) {
  switch (article_9_point) {
    case 'b':
      return {1, 1};  // employment, social security and social protection
    case 'h':
      return {1, 2};  // health or social care purposes
    case 'i':
      return {1, 3};  // public health
    case 'j':
      return {1, 4};  // research etc
    case 'g':
      return {2, 0};  // substantial public interest conditions
    default:
      return {0, 0};
  }
}

std::string LawfulBasisLine(const v1::LawfulBasis& b) {
  std::string line = absl::StrCat(
      "UK GDPR Art ", absl::StripAsciiWhitespace(b.uk_gdpr_article_6()));
  if (!Blank(b.uk_gdpr_article_9())) {
    absl::StrAppend(&line, "; Art ",
                    absl::StripAsciiWhitespace(b.uk_gdpr_article_9()));
  }
  if (b.has_dpa_2018_schedule_1()) {
    const v1::Schedule1Condition& s = b.dpa_2018_schedule_1();
    absl::StrAppend(&line, "; DPA 2018 Sch 1 Part ", s.part(), " para ",
                    s.paragraph(), " (", absl::StripAsciiWhitespace(s.title()),
                    ")");
  }
  return line;
}

class Compiler {
 public:
  Compiler(CompiledPolicy* out, Errors* errors) : out_(out), errors_(errors) {
    out_->kind_patterns.fill(-1);
  }

  void AddHeader(const ParsedFile& file) {
    if (!file.proto.has_policy_set()) return;
    Entry e(file, &file.tree, v1::PolicyFile::descriptor(), "policy_set", -1);
    if (!header_where_.file.empty()) {
      errors_->Add(
          e.where(),
          absl::StrCat("a second policy_set header (the first is at ",
                       header_where_.ToString(), "); a set has exactly one"));
      return;
    }
    header_where_ = e.where();
    const v1::PolicySetHeader& h = file.proto.policy_set();
    if (Blank(h.name())) errors_->Add(e.where(), "policy_set.name is missing");
    if (Blank(h.version())) {
      errors_->Add(e.where(),
                   "policy_set.version is missing; every policy set is "
                   "versioned");
    }
    out_->name = h.name();
    out_->version = h.version();
    out_->description = h.description();
  }

  void CheckHeaderSeen(const std::string& first_file) {
    if (header_where_.file.empty()) {
      errors_->Add(Location{first_file, 0, 0},
                   "no file of the set has a policy_set { name version } "
                   "header");
    }
  }

  void AddOrganisations(const ParsedFile& file) {
    for (int i = 0; i < file.proto.organisations_size(); ++i) {
      AddOrganisation(file.proto.organisations(i),
                      Entry(file, &file.tree, v1::PolicyFile::descriptor(),
                            "organisations", i));
    }
  }

  void AddPurposes(const ParsedFile& file) {
    for (int i = 0; i < file.proto.purposes_size(); ++i) {
      AddPurpose(
          file.proto.purposes(i),
          Entry(file, &file.tree, v1::PolicyFile::descriptor(), "purposes", i));
    }
  }

  void AddRules(const ParsedFile& file) {
    for (int i = 0; i < file.proto.rules_size(); ++i) {
      AddRule(
          file.proto.rules(i),
          Entry(file, &file.tree, v1::PolicyFile::descriptor(), "rules", i));
    }
  }

  void AddTests(const ParsedFile& file) {
    for (int i = 0; i < file.proto.tests_size(); ++i) {
      AddTest(
          file.proto.tests(i),
          Entry(file, &file.tree, v1::PolicyFile::descriptor(), "tests", i));
    }
  }

 private:
  void AddOrganisation(const v1::Organisation& o, const Entry& e) {
    absl::StatusOr<OrgId> id = ParseOrgIdOrPattern(o.id());
    if (!id.ok()) {
      errors_->Add(e.At("id"), absl::StrCat("organisation \"", o.id(),
                                            "\": ", id.status().message()));
      return;
    }
    const std::string key = id->ToString();
    if (auto it = seen_organisations_.find(key);
        it != seen_organisations_.end()) {
      errors_->Add(e.At("id"),
                   absl::StrCat("duplicate organisation \"", key,
                                "\" (first at ", it->second.ToString(), ")"));
      return;
    }
    seen_organisations_.emplace(key, e.where());
    CompiledOrganisation c;
    c.id = *id;
    c.where = e.where();
    c.info.entry_id = key;
    c.info.display_name = o.display_name();
    c.info.la_code = o.la_code();
    c.info.virtual_school = o.virtual_school();
    c.info.sources.assign(o.sources().begin(), o.sources().end());
    if (Blank(o.display_name())) {
      errors_->Add(e.where(), absl::StrCat("organisation \"", key,
                                           "\": display_name is missing"));
    }
    if (o.roles().empty()) {
      errors_->Add(e.where(),
                   absl::StrCat("organisation \"", key,
                                "\" has no roles; give at least one of "
                                "provider, recipient, ig_officer, researcher, "
                                "auditor, admin"));
    }
    for (int j = 0; j < o.roles_size(); ++j) {
      std::optional<Role> role = ParseRole(o.roles(j));
      if (!role.has_value()) {
        errors_->Add(e.At("roles", j), UnknownRole(o.roles(j)));
        continue;
      }
      if ((c.role_mask & Bit(*role)) == 0) c.info.roles.push_back(*role);
      c.role_mask |= Bit(*role);
    }
    if (!o.la_code().empty() && !IsLaCode(o.la_code())) {
      errors_->Add(e.At("la_code"),
                   absl::StrCat("organisation \"", key,
                                "\": la_code must be a three-digit LA code"));
    }
    if (o.virtual_school() && (id->kind != OrgKind::kLa || id->is_pattern())) {
      errors_->Add(e.At("virtual_school"),
                   absl::StrCat("organisation \"", key,
                                "\": only an exact la/<id> entry can be a "
                                "Virtual School"));
    }
    for (int j = 0; j < o.sources_size(); ++j) {
      if (!IsSnakeCase(o.sources(j))) {
        errors_->Add(
            e.At("sources", j),
            absl::StrCat("organisation \"", key, "\": source \"", o.sources(j),
                         "\" must be snake_case, e.g. school_census"));
      }
    }
    const int index = static_cast<int>(out_->organisations.size());
    if (id->is_pattern()) {
      out_->kind_patterns[static_cast<size_t>(id->kind)] = index;
    } else {
      out_->exact_organisations.emplace(key, index);
    }
    out_->organisations.push_back(std::move(c));
  }

  void AddPurpose(const v1::Purpose& p, const Entry& e) {
    if (!IsSnakeCase(p.id())) {
      errors_->Add(e.At("id"),
                   absl::StrCat("purpose id \"", p.id(),
                                "\" must be snake_case (a-z, 0-9, _)"));
      return;
    }
    if (auto it = out_->purpose_index.find(p.id());
        it != out_->purpose_index.end()) {
      errors_->Add(
          e.At("id"),
          absl::StrCat("duplicate purpose \"", p.id(), "\" (first at ",
                       out_->purposes[static_cast<size_t>(it->second)].location,
                       ")"));
      return;
    }
    const std::string what = absl::StrCat("purpose \"", p.id(), "\"");
    PurposeInfo info;
    info.id = p.id();
    info.display_name = p.display_name();
    info.description = p.description();
    info.category = p.category().empty() ? p.id() : p.category();
    info.legislation = p.lawful_basis().legislation();
    info.special_category_data = p.special_category_data();
    info.objections_apply = p.objections_apply();
    info.why_objections_do_not_apply = p.why_objections_do_not_apply();
    info.opt_outs_apply = p.opt_outs_apply();
    info.why_opt_outs_do_not_apply = p.why_opt_outs_do_not_apply();
    info.requires_approved_project = p.requires_approved_project();
    info.notification_expiry_days = static_cast<int>(
        std::min<uint32_t>(p.notification_expiry_days(), 1u << 20));
    info.disclosed_fields.assign(p.disclosed_fields().begin(),
                                 p.disclosed_fields().end());
    info.location = e.where().ToString();

    if (Blank(p.display_name())) {
      errors_->Add(e.where(), absl::StrCat(what, ": display_name is missing"));
    }
    if (Blank(p.description())) {
      errors_->Add(e.where(), absl::StrCat(what, ": description is missing"));
    }
    if (!p.category().empty() && !IsSnakeCase(p.category())) {
      errors_->Add(e.At("category"),
                   absl::StrCat(what, ": category must be snake_case"));
    }
    CheckLawfulBasis(p, e, what, &info);
    if (!p.objections_apply() && Blank(p.why_objections_do_not_apply())) {
      errors_->Add(e.At("objections_apply"),
                   absl::StrCat(what,
                                ": objections do not apply, so "
                                "why_objections_do_not_apply must say why"));
    }
    if (!p.opt_outs_apply() && Blank(p.why_opt_outs_do_not_apply())) {
      errors_->Add(e.At("opt_outs_apply"),
                   absl::StrCat(what,
                                ": opt-outs do not apply, so "
                                "why_opt_outs_do_not_apply must say why"));
    }
    if (p.notification_expiry_days() > 3650) {
      errors_->Add(e.At("notification_expiry_days"),
                   absl::StrCat(what,
                                ": notification_expiry_days is more than "
                                "3650 (ten years)"));
    }
    if (p.disclosed_fields().empty()) {
      errors_->Add(e.where(),
                   absl::StrCat(what,
                                ": disclosed_fields is empty; list the fields "
                                "this purpose may disclose"));
    }
    for (int j = 0; j < p.disclosed_fields_size(); ++j) {
      if (!IsKnownField(p.disclosed_fields(j))) {
        errors_->Add(
            e.At("disclosed_fields", j),
            absl::StrCat(what, ": ", UnknownField(p.disclosed_fields(j))));
      }
    }
    out_->purpose_index.emplace(p.id(),
                                static_cast<int>(out_->purposes.size()));
    out_->purposes.push_back(std::move(info));
  }

  void CheckLawfulBasis(const v1::Purpose& p, const Entry& e,
                        const std::string& what, PurposeInfo* info) {
    if (!p.has_lawful_basis()) {
      errors_->Add(e.where(),
                   absl::StrCat(what,
                                " has no lawful basis: every purpose needs "
                                "lawful_basis { uk_gdpr_article_6: ... } "
                                "(e.g. \"6(1)(e) public task\")"));
      return;
    }
    const v1::LawfulBasis& b = p.lawful_basis();
    const Entry basis = e.Nested("lawful_basis");
    bool ok = true;
    char art6 = 0;
    if (Blank(b.uk_gdpr_article_6())) {
      errors_->Add(basis.where(),
                   absl::StrCat(what,
                                " has no lawful basis: "
                                "lawful_basis.uk_gdpr_article_6 is missing "
                                "(e.g. \"6(1)(e) public task\")"));
      ok = false;
    } else {
      art6 = BasisPoint(b.uk_gdpr_article_6(), "6(1)(", 'f');
      if (art6 == 0) {
        errors_->Add(basis.At("uk_gdpr_article_6"),
                     absl::StrCat(what,
                                  ": uk_gdpr_article_6 must be 6(1)(a) "
                                  "to 6(1)(f) followed by its name, "
                                  "e.g. \"6(1)(e) public task\""));
        ok = false;
      }
    }
    char art9 = 0;
    if (!Blank(b.uk_gdpr_article_9())) {
      art9 = BasisPoint(b.uk_gdpr_article_9(), "9(2)(", 'j');
      if (art9 == 0) {
        errors_->Add(basis.At("uk_gdpr_article_9"),
                     absl::StrCat(what,
                                  ": uk_gdpr_article_9 must be 9(2)(a) "
                                  "to 9(2)(j) followed by its name, "
                                  "e.g. \"9(2)(g) substantial public "
                                  "interest\""));
        ok = false;
      } else if (!p.special_category_data()) {
        errors_->Add(basis.At("uk_gdpr_article_9"),
                     absl::StrCat(what,
                                  " gives an Article 9 condition but "
                                  "special_category_data is false; set it to "
                                  "true or remove the condition"));
        ok = false;
      }
    } else if (p.special_category_data()) {
      errors_->Add(basis.where(),
                   absl::StrCat(what,
                                " uses special category data but has no "
                                "lawful basis for it: "
                                "lawful_basis.uk_gdpr_article_9 is missing "
                                "(e.g. \"9(2)(g) substantial public "
                                "interest\")"));
      ok = false;
    }
    if (art9 != 0) {
      const Schedule1Need need = NeedFor(art9);
      const bool has = b.has_dpa_2018_schedule_1();
      const v1::Schedule1Condition& s = b.dpa_2018_schedule_1();
      const Location at = basis.At("dpa_2018_schedule_1");
      if (need.part == 0 && has) {
        errors_->Add(at,
                     absl::StrCat(what, ": Article 9(2)(", std::string(1, art9),
                                  ") needs no DPA 2018 Schedule 1 "
                                  "condition; remove "
                                  "dpa_2018_schedule_1"));
        ok = false;
      } else if (need.part != 0 && !has) {
        errors_->Add(
            basis.where(),
            absl::StrCat(
                what, " has no complete lawful basis: Article 9(2)(",
                std::string(1, art9),
                ") needs a DPA 2018 Schedule 1 condition ",
                need.part == 1
                    ? absl::StrCat("(Part 1 paragraph ", need.paragraph, ")")
                    : std::string("(a Part 2 paragraph, 6 to 28)"),
                " in lawful_basis.dpa_2018_schedule_1"));
        ok = false;
      } else if (need.part != 0) {
        const bool matches =
            s.part() == need.part &&
            (need.paragraph != 0 ? s.paragraph() == need.paragraph
                                 : s.paragraph() >= 6 && s.paragraph() <= 28);
        if (!matches) {
          errors_->Add(
              at, absl::StrCat(
                      what, ": Article 9(2)(", std::string(1, art9), ") needs ",
                      need.part == 1
                          ? absl::StrCat("Schedule 1 Part 1 paragraph ",
                                         need.paragraph)
                          : std::string("a Schedule 1 Part 2 paragraph (6 to "
                                        "28)"),
                      ", not Part ", s.part(), " paragraph ", s.paragraph()));
          ok = false;
        } else if (Blank(s.title())) {
          errors_->Add(at, absl::StrCat(what,
                                        ": dpa_2018_schedule_1.title is "
                                        "missing (the paragraph's heading)"));
          ok = false;
        }
      }
    } else if (b.has_dpa_2018_schedule_1() && ok) {
      errors_->Add(basis.At("dpa_2018_schedule_1"),
                   absl::StrCat(what,
                                ": a DPA 2018 Schedule 1 condition is given "
                                "without an Article 9 condition"));
      ok = false;
    }
    if (ok) {
      info->lawful_basis = LawfulBasisLine(b);
      info->requires_consent = art6 == 'a' || art9 == 'a';
    }
  }

  void AddRule(const v1::Rule& r, const Entry& e) {
    if (!IsRuleId(r.id())) {
      errors_->Add(e.At("id"),
                   absl::StrCat("rule id \"", r.id(),
                                "\" must be lower case letters, digits, '-', "
                                "'_' or '.'"));
      return;
    }
    if (r.id() == kDefaultDenyRuleId) {
      errors_->Add(e.At("id"), absl::StrCat("rule id \"", r.id(),
                                            "\" is reserved for the default"));
      return;
    }
    if (auto it = rule_where_.find(r.id()); it != rule_where_.end()) {
      errors_->Add(e.At("id"),
                   absl::StrCat("duplicate rule id \"", r.id(), "\" (first at ",
                                it->second.ToString(), ")"));
      return;
    }
    rule_where_.emplace(r.id(), e.where());
    const std::string what = absl::StrCat("rule \"", r.id(), "\"");
    CompiledRule c;
    c.id = r.id();
    c.where = e.where();
    c.description = r.description();
    switch (r.effect()) {
      case v1::Rule::PERMIT:
        break;
      case v1::Rule::FORBID:
        c.forbid = true;
        break;
      default:
        errors_->Add(e.where(),
                     absl::StrCat(what, ": effect must be PERMIT or FORBID"));
    }
    if (Blank(r.description())) {
      errors_->Add(e.where(),
                   absl::StrCat(what,
                                ": description is missing; say in plain "
                                "language what the rule is for"));
    }
    if (r.actions().empty()) {
      errors_->Add(e.where(), absl::StrCat(what,
                                           ": actions is empty; name "
                                           "the actions it covers"));
    }
    for (int j = 0; j < r.actions_size(); ++j) {
      std::optional<Action> a = ParseAction(r.actions(j));
      if (!a.has_value()) {
        std::vector<std::string> names;
        for (Action x : AllActions()) names.emplace_back(ActionName(x));
        errors_->Add(
            e.At("actions", j),
            absl::StrCat(what, ": unknown action \"", r.actions(j),
                         "\" (known: ", absl::StrJoin(names, ", "), ")"));
        continue;
      }
      c.action_mask |= Bit(*a);
    }
    for (int j = 0; j < r.purposes_size(); ++j) {
      auto it = out_->purpose_index.find(r.purposes(j));
      if (it == out_->purpose_index.end()) {
        errors_->Add(e.At("purposes", j),
                     absl::StrCat(what, ": unknown purpose \"", r.purposes(j),
                                  "\" (no purposes { id: \"", r.purposes(j),
                                  "\" } in the set)"));
        continue;
      }
      c.purposes.push_back(it->second);
    }
    c.requester_role_mask =
        Roles(r.requester_roles(), e, "requester_roles", what);
    c.recipient_role_mask =
        Roles(r.recipient_roles(), e, "recipient_roles", what);
    c.requester_kind_mask =
        Kinds(r.requester_kinds(), e, "requester_kinds", what);
    c.recipient_kind_mask =
        Kinds(r.recipient_kinds(), e, "recipient_kinds", what);
    c.requester_orgs = Orgs(r.requester_orgs(), e, "requester_orgs", what);
    c.recipient_orgs = Orgs(r.recipient_orgs(), e, "recipient_orgs", what);
    for (int j = 0; j < r.fields_size(); ++j) {
      if (!IsKnownField(r.fields(j))) {
        errors_->Add(e.At("fields", j),
                     absl::StrCat(what, ": ", UnknownField(r.fields(j))));
        continue;
      }
      c.fields.push_back(r.fields(j));
    }
    for (int j = 0; j < r.conditions_size(); ++j) {
      absl::string_view text = absl::StripAsciiWhitespace(r.conditions(j));
      Condition cond;
      if (absl::ConsumePrefix(&text, "not ")) {
        cond.negated = true;
        text = absl::StripLeadingAsciiWhitespace(text);
      }
      std::optional<Predicate> p = ParsePredicate(text);
      if (!p.has_value()) {
        std::vector<std::string> names;
        for (int k = 0; k < kPredicateCount; ++k) {
          names.emplace_back(PredicateName(static_cast<Predicate>(k)));
        }
        errors_->Add(
            e.At("conditions", j),
            absl::StrCat(what, ": unknown condition \"", r.conditions(j),
                         "\" (write a condition name, optionally "
                         "after \"not \"; known: ",
                         absl::StrJoin(names, ", "), ")"));
        continue;
      }
      cond.predicate = *p;
      for (const Condition& other : c.conditions) {
        if (other.predicate == cond.predicate &&
            other.negated != cond.negated) {
          errors_->Add(e.At("conditions", j),
                       absl::StrCat(what, ": conditions \"", PredicateName(*p),
                                    "\" and \"not ", PredicateName(*p),
                                    "\" can never both hold"));
        }
      }
      c.conditions.push_back(cond);
    }
    const int index = static_cast<int>(out_->rules.size());
    for (Action a : AllActions()) {
      if ((c.action_mask & Bit(a)) != 0) {
        out_->rules_by_action[static_cast<size_t>(a)].push_back(index);
      }
    }
    out_->rules.push_back(std::move(c));
  }

  void AddTest(const v1::PolicyTest& t, const Entry& e) {
    const std::string what = absl::StrCat("policy test \"", t.name(), "\"");
    if (Blank(t.name())) {
      errors_->Add(e.where(), "policy test: name is missing");
      return;
    }
    if (auto it = test_where_.find(t.name()); it != test_where_.end()) {
      errors_->Add(e.At("name"),
                   absl::StrCat("duplicate policy test name \"", t.name(),
                                "\" (first at ", it->second.ToString(), ")"));
      return;
    }
    test_where_.emplace(t.name(), e.where());
    CompiledTest c;
    c.name = t.name();
    c.where = e.where();
    bool ok = true;
    if (!t.has_request()) {
      errors_->Add(e.where(), absl::StrCat(what, ": request is missing"));
      ok = false;
    } else if (absl::StatusOr<Request> r = RequestFromProto(t.request());
               !r.ok()) {
      errors_->Add(e.Nested("request").where(),
                   absl::StrCat(what, ": ", r.status().message()));
      ok = false;
    } else {
      c.request = *std::move(r);
    }
    if (absl::StatusOr<SubjectFacts> f = SubjectFactsFromProto(t.facts());
        !f.ok()) {
      errors_->Add(e.Nested("facts").where(),
                   absl::StrCat(what, ": ", f.status().message()));
      ok = false;
    } else {
      c.facts = *std::move(f);
    }
    if (t.expect() == v1::PolicyTest::OUTCOME_UNSPECIFIED) {
      errors_->Add(e.where(),
                   absl::StrCat(what, ": expect must be ALLOW or DENY"));
      ok = false;
    }
    c.expect_allowed = t.expect() == v1::PolicyTest::ALLOW;
    c.expect_deciding_rule = t.expect_deciding_rule();
    if (!t.expect_deciding_rule().empty() &&
        !IsKnownRuleOrGuard(t.expect_deciding_rule())) {
      errors_->Add(
          e.At("expect_deciding_rule"),
          absl::StrCat(what, ": expect_deciding_rule \"",
                       t.expect_deciding_rule(),
                       "\" is not a rule of the set, \"", kDefaultDenyRuleId,
                       "\" or purpose:<id>:<guard>"));
      ok = false;
    }
    c.expect_notes.assign(t.expect_notes().begin(), t.expect_notes().end());
    if (ok) out_->tests.push_back(std::move(c));
  }

  bool IsKnownRuleOrGuard(absl::string_view id) const {
    if (id == kDefaultDenyRuleId) return true;
    if (rule_where_.contains(id)) return true;
    for (const PurposeInfo& p : out_->purposes) {
      for (absl::string_view g : {kGuardConsent, kGuardObjection, kGuardOptOut,
                                  kGuardProject, kGuardFields}) {
        if (id == GuardId(p.id, g)) return true;
      }
    }
    return false;
  }

  uint32_t Roles(const google::protobuf::RepeatedPtrField<std::string>& names,
                 const Entry& e, absl::string_view field,
                 const std::string& what) {
    uint32_t mask = 0;
    for (int j = 0; j < names.size(); ++j) {
      std::optional<Role> role = ParseRole(names[j]);
      if (!role.has_value()) {
        errors_->Add(e.At(field, j),
                     absl::StrCat(what, ": ", UnknownRole(names[j])));
        continue;
      }
      mask |= Bit(*role);
    }
    return mask;
  }

  uint32_t Kinds(const google::protobuf::RepeatedPtrField<std::string>& names,
                 const Entry& e, absl::string_view field,
                 const std::string& what) {
    uint32_t mask = 0;
    for (int j = 0; j < names.size(); ++j) {
      std::optional<OrgKind> kind = ParseOrgKind(names[j]);
      if (!kind.has_value()) {
        errors_->Add(
            e.At(field, j),
            absl::StrCat(what, ": unknown organisation kind \"", names[j],
                         "\" (known: school, la, health, research)"));
        continue;
      }
      mask |= Bit(*kind);
    }
    return mask;
  }

  std::vector<OrgId> Orgs(
      const google::protobuf::RepeatedPtrField<std::string>& ids,
      const Entry& e, absl::string_view field, const std::string& what) {
    std::vector<OrgId> out;
    for (int j = 0; j < ids.size(); ++j) {
      absl::StatusOr<OrgId> id = ParseOrgIdOrPattern(ids[j]);
      if (!id.ok()) {
        errors_->Add(
            e.At(field, j),
            absl::StrCat(what, ": \"", ids[j], "\": ", id.status().message()));
        continue;
      }
      out.push_back(*std::move(id));
    }
    return out;
  }

  static std::string UnknownRole(absl::string_view name) {
    return absl::StrCat("unknown role \"", name,
                        "\" (known: provider, recipient, ig_officer, "
                        "researcher, auditor, admin)");
  }

  static std::string UnknownField(absl::string_view name) {
    return absl::StrCat("unknown field \"", name,
                        "\" (known: ", absl::StrJoin(AllFields(), ", "), ")");
  }

  CompiledPolicy* out_;
  Errors* errors_;
  Location header_where_;
  absl::flat_hash_map<std::string, Location> seen_organisations_;
  absl::flat_hash_map<std::string, Location> rule_where_;
  absl::flat_hash_map<std::string, Location> test_where_;
};

bool IsHidden(const std::filesystem::path& p) {
  const std::string name = p.filename().string();
  return !name.empty() && name[0] == '.';
}

}  // namespace

std::string Location::ToString() const {
  if (line <= 0) return file;
  return absl::StrCat(file, ":", line, ":", column);
}

std::string GuardId(absl::string_view purpose, absl::string_view guard) {
  return absl::StrCat("purpose:", purpose, ":", guard);
}

const CompiledOrganisation* CompiledPolicy::FindOrganisation(
    const OrgId& id) const {
  if (auto it = exact_organisations.find(id.ToString());
      it != exact_organisations.end()) {
    return &organisations[static_cast<size_t>(it->second)];
  }
  const int pattern = kind_patterns[static_cast<size_t>(id.kind)];
  return pattern < 0 ? nullptr : &organisations[static_cast<size_t>(pattern)];
}

absl::StatusOr<std::vector<PolicySourceFile>> ReadPolicyDir(
    const std::string& dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    return absl::NotFoundError(
        absl::StrCat("policy directory ", dir, ": not a directory"));
  }
  std::vector<PolicySourceFile> files;
  fs::recursive_directory_iterator it(dir, ec), end;
  if (ec) {
    return absl::NotFoundError(absl::StrCat(
        "policy directory ", dir, ": cannot be read: ", ec.message()));
  }
  for (; it != end; it.increment(ec)) {
    if (ec) {
      return absl::FailedPreconditionError(absl::StrCat(
          "policy directory ", dir, ": cannot be read: ", ec.message()));
    }
    const fs::path& path = it->path();
    if (it->is_directory(ec)) {
      // testdata/ holds deliberately broken sets (as Go's tools skip it).
      if (IsHidden(path) || path.filename() == "testdata") {
        it.disable_recursion_pending();
      }
      continue;
    }
    if (IsHidden(path) || path.extension() != ".textproto" ||
        !it->is_regular_file(ec)) {
      continue;
    }
    std::ifstream in(path, std::ios::binary);
    std::stringstream contents;
    contents << in.rdbuf();
    if (!in) {
      return absl::FailedPreconditionError(
          absl::StrCat("policy file ", path.string(), ": cannot be read"));
    }
    files.push_back(PolicySourceFile{
        path.lexically_relative(dir).generic_string(), contents.str()});
  }
  return files;
}

absl::StatusOr<std::unique_ptr<CompiledPolicy>> Compile(
    std::vector<PolicySourceFile> files, absl::string_view display_prefix) {
  if (files.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(display_prefix, ": no policy files (*.textproto)"));
  }
  auto out = std::make_unique<CompiledPolicy>();
  LINKD_ASSIGN_OR_RETURN(out->hash, ComputePolicyHash(files));
  out->hash_hex = HexEncode(out->hash);
  std::sort(files.begin(), files.end(),
            [](const PolicySourceFile& a, const PolicySourceFile& b) {
              return a.name < b.name;
            });
  Errors errors;
  std::vector<std::unique_ptr<ParsedFile>> parsed;
  for (const PolicySourceFile& f : files) {
    out->files.push_back(f.name);
    auto p = std::make_unique<ParsedFile>();
    p->display = absl::StrCat(display_prefix, f.name);
    TextFormat::Parser parser;
    SyntaxErrors syntax(p->display, f.contents, &errors);
    parser.RecordErrorsTo(&syntax);
    parser.WriteLocationsTo(&p->tree);
    if (parser.ParseFromString(f.contents, &p->proto)) {
      parsed.push_back(std::move(p));
    }
  }
  // Checks of a partly parsed set would only add confusing follow-on errors.
  LINKD_RETURN_IF_ERROR(errors.ToStatus());

  Compiler compiler(out.get(), &errors);
  for (const auto& f : parsed) compiler.AddHeader(*f);
  compiler.CheckHeaderSeen(parsed.front()->display);
  for (const auto& f : parsed) compiler.AddOrganisations(*f);
  for (const auto& f : parsed) compiler.AddPurposes(*f);
  for (const auto& f : parsed) compiler.AddRules(*f);
  for (const auto& f : parsed) compiler.AddTests(*f);
  LINKD_RETURN_IF_ERROR(errors.ToStatus());
  return out;
}

}  // namespace linkd::policy::internal
