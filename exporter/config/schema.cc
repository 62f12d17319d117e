#include "config/schema.h"

#include <algorithm>
#include <fstream>
#include <sstream>

#include "util/duration.h"

namespace yfe::config {
namespace {

// The node yaml-cpp gives for a missing key: undefined, so `!node` holds.
YAML::Node Undefined() {
  static const YAML::Node empty(YAML::NodeType::Map);
  return empty["-"];
}

std::string OneOf(std::initializer_list<const char*> choices) {
  std::string s;
  size_t i = 0;
  for (const char* c : choices) {
    if (i > 0) s += i + 1 == choices.size() ? " or " : ", ";
    s += c;
    ++i;
  }
  return s;
}

}  // namespace

std::optional<std::string> ReadWholeFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::stringstream buf;
  buf << in.rdbuf();
  return buf.str();
}

Checker::Checker(std::string_view source, std::vector<std::string>& errors,
                 std::vector<std::string>& warnings)
    : source_(source), errors_(errors), warnings_(warnings) {}

Checker Checker::Schema(std::vector<std::string>& sink) {
  Checker c("", sink, sink);
  c.schema_only_ = true;
  return c;
}

Section Checker::Root(const YAML::Node& root) {
  return Section(*this, schema_only_ ? Undefined() : root, "", "");
}

YAML::Node Checker::Load(std::string_view yaml, const char* top_level) {
  YAML::Node root;
  try {
    root = YAML::Load(std::string(yaml));
  } catch (const YAML::Exception& e) {
    Error("line " + std::to_string(e.mark.line + 1) + ": invalid YAML: " + e.msg);
    return Undefined();
  }
  if (root && !root.IsNull() && !root.IsMap()) {
    Error(std::string("the top level must be ") + top_level);
    return Undefined();
  }
  return root;
}

void Checker::Walk(const YAML::Node& root, const std::function<void(Section&)>& declare,
                   const std::function<void()>& after) {
  try {
    {
      Section r = Root(root);
      declare(r);
    }
    if (after) after();
  } catch (const YAML::Exception& e) {
    Error("line " + std::to_string(e.mark.line + 1) + ": " + e.msg);
  }
}

void Checker::Error(const YAML::Node& at, const std::string& msg) {
  if (!schema_only_) errors_.push_back(Where(at) + msg);
}

void Checker::Warn(const YAML::Node& at, const std::string& msg) {
  if (!schema_only_) warnings_.push_back(Where(at) + msg);
}

void Checker::Error(const std::string& msg) {
  if (!schema_only_) errors_.push_back(source_ + ": " + msg);
}

std::string Checker::Where(const YAML::Node& n) const {
  std::string w = source_;
  if (n.IsDefined() && n.Mark().line >= 0) w += ":" + std::to_string(n.Mark().line + 1);
  return w + ": ";
}

Section::Section(Checker& c, YAML::Node node, std::string path, std::string schema_path)
    : c_(&c), node_(node), path_(std::move(path)), schema_path_(std::move(schema_path)) {}

Section::Section(Section&& o) noexcept
    : c_(o.c_),
      node_(o.node_),
      path_(std::move(o.path_)),
      schema_path_(std::move(o.schema_path_)),
      no_echo_(o.no_echo_),
      declared_(std::move(o.declared_)) {
  o.moved_ = true;  // the moved-from section reports nothing
}

Section::~Section() {
  if (moved_ || !node_.IsDefined() || !node_.IsMap() || c_->schema_only()) return;
  for (const auto& kv : node_) {
    std::string key = kv.first.IsScalar() ? kv.first.Scalar() : "?";
    if (std::find(declared_.begin(), declared_.end(), key) != declared_.end()) continue;
    std::string list;
    for (const auto& k : declared_) list += (list.empty() ? "" : ", ") + k;
    c_->Error(kv.first, "unknown key \"" + Path(key) + "\" (known keys here: " + list + ")");
  }
}

std::string Section::Path(std::string_view key) const {
  return path_.empty() ? std::string(key) : path_ + "." + std::string(key);
}

std::string Section::Got(const YAML::Node& n) const {
  if (!echo()) return std::string(" (the value is not shown: ") + no_echo_ + ")";
  if (n.IsScalar()) return ", got \"" + n.Scalar().substr(0, 60) + "\"";
  if (n.IsSequence()) return ", got a list";
  if (n.IsMap()) return ", got a mapping";
  return ", got nothing";
}

YAML::Node Section::Declare(const char* key, const char* type, std::string default_value,
                            std::string range, const char* help) {
  declared_.push_back(key);
  if (c_->schema_only()) {
    std::string prefix = schema_path_.empty() ? "" : schema_path_ + ".";
    c_->keys_.push_back({prefix + key, type, std::move(default_value), std::move(range), help});
    return Undefined();
  }
  return Lookup(key);
}

Section Section::Map(const char* key) {
  declared_.push_back(key);
  const YAML::Node n = Lookup(key);
  const bool mapping = n && n.IsMap();
  if (n && !mapping) c_->Error(n, "\"" + Path(key) + "\" must be a mapping");
  // (A YAML::Node is never assigned to: assignment writes through to the document.)
  Section child(*c_, mapping ? n : Undefined(), Path(key),
                schema_path_.empty() ? key : schema_path_ + "." + key);
  child.no_echo_ = no_echo_;
  return child;
}

YAML::Node Section::Lookup(const char* key) const {
  if (c_->schema_only() || !node_.IsDefined() || !node_.IsMap()) return Undefined();
  YAML::Node n = node_[key];  // node_ is const: a lookup, never an insertion
  if (!n || n.IsNull()) return Undefined();
  return n;
}

void Section::Objects(const char* key, const char* what,
                      const std::function<void(Section&)>& each) {
  declared_.push_back(key);
  const std::string schema = (schema_path_.empty() ? key : schema_path_ + "." + key) + "[]";
  if (c_->schema_only()) {
    Section item(*c_, Undefined(), Path(key) + "[]", schema);
    each(item);
    return;
  }
  YAML::Node n = Lookup(key);
  if (!n) return;
  if (!n.IsSequence()) return c_->Error(n, "\"" + Path(key) + "\" must be " + what);
  for (size_t i = 0; i < n.size(); ++i) {
    Section item(*c_, n[i], Path(key) + "[" + std::to_string(i) + "]", schema);
    item.no_echo_ = no_echo_;
    each(item);
  }
}

YAML::Node Section::Sequence(const char* key, const char* what, const std::string& default_value,
                             const char* help, const std::function<void(const YAML::Node&)>& each) {
  YAML::Node n = Declare(key, "list", default_value, "", help);
  if (!n) return n;
  if (!n.IsSequence() || n.size() == 0) {
    c_->Error(n, "\"" + Path(key) + "\" must be " + what);
    return Undefined();
  }
  for (const auto& item : n) each(item);
  return n;
}

YAML::Node Section::Entries(
    const char* key, const char* what, const char* help,
    const std::function<void(const YAML::Node& k, const YAML::Node& v)>& each) {
  YAML::Node n = Declare(key, "map", "", "", help);
  if (!n) return n;
  if (!n.IsMap()) {
    c_->Error(n, "\"" + Path(key) + "\" must be " + what);
    return Undefined();
  }
  for (const auto& kv : n) each(kv.first, kv.second);
  return n;
}

YAML::Node Section::String(const char* key, std::string& out, const char* help) {
  YAML::Node n = Declare(key, "string", out, "", help);
  if (!n) return n;
  if (!n.IsScalar()) {
    c_->Error(n, "\"" + Path(key) + "\" must be a string");
    return n;
  }
  out = n.Scalar();
  return n;
}

YAML::Node Section::Bool(const char* key, bool& out, const char* help) {
  YAML::Node n = Declare(key, "bool", out ? "true" : "false", "", help);
  if (!n) return n;
  bool v = false;
  if (!n.IsScalar() || !YAML::convert<bool>::decode(n, v)) {
    c_->Error(n, "\"" + Path(key) + "\" must be true or false" + Got(n));
    return n;
  }
  out = v;
  return n;
}

YAML::Node Section::Choice(const char* key, std::string& out,
                           std::initializer_list<const char*> choices, const char* help) {
  YAML::Node n = Declare(key, "string", out, OneOf(choices), help);
  if (!n) return n;
  const std::string v = n.IsScalar() ? n.Scalar() : "";
  for (const char* choice : choices) {
    if (v == choice) {
      out = v;
      return n;
    }
  }
  c_->Error(n, "\"" + Path(key) + "\" must be " + OneOf(choices) + Got(n));
  return n;
}

YAML::Node Section::Duration(const char* key, std::chrono::nanoseconds& out, bool allow_zero,
                             std::chrono::nanoseconds max, const char* help) {
  YAML::Node n =
      Declare(key, "duration", FormatDuration(out),
              (allow_zero ? "0 to " : "more than 0, at most ") + FormatDuration(max), help);
  if (!n) return n;
  const std::string p = Path(key);
  if (!n.IsScalar()) {
    c_->Error(n, "\"" + p + "\" must be a duration such as 10s");
    return n;
  }
  auto d = ParseDuration(n.Scalar());
  if (!d.ok()) {
    c_->Error(
        n, echo() ? "\"" + p + "\": " + d.error() : "\"" + p + "\" must be a duration such as 10s");
  } else if (!allow_zero && d->count() == 0) {
    c_->Error(n, "\"" + p + "\" must be more than 0");
  } else if (*d > max) {
    c_->Error(n, "\"" + p + "\" must be at most " + FormatDuration(max));
  } else {
    out = *d;
  }
  return n;
}

YAML::Node Section::Raw(const char* key, const char* type, const char* help) {
  return Declare(key, type, "", "", help);
}

}  // namespace yfe::config
