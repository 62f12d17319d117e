// A YAML file's schema, declared once per key: the declaration parses the key, checks its
// type and range, and knows its default (the struct's value) and a one-line help. Keys that
// are present but never declared are the unknown keys; every problem is reported with its
// file and line, in one format ("file:line: \"section.key\" must be ..."), and the walk goes
// on, so one run reports every problem. Run over no document (Checker::Schema), the same
// declaration lists the keys (config.h AllKeys(), checked against docs/configuration.md).
//
//   Checker c(source, errors, warnings);
//   {
//     Section root = c.Root(yaml_root);
//     Section api = root.Map("api");
//     api.String("endpoint", out.endpoint, "scheme://host[:port] of the API");
//     api.Number("max_concurrency", out.max_concurrency, 1, 256, "requests in flight");
//     root.Objects("pipelines", "a list of {id, name}", [&](Section& item) {
//       item.String("id", p.id, "the pipeline id");
//     });
//   }  // a Section reports its unknown keys when it goes out of scope
//
// Adding a key: one visitor call in the section's declaration (config.cc Declare*), the
// struct field holding its default, and a row in docs/configuration.md. Not thread-safe:
// one Checker per parse.
#pragma once

#include <yaml-cpp/yaml.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

namespace yfe::config {

// The whole content of a file, or nullopt when it cannot be read.
std::optional<std::string> ReadWholeFile(const std::string& path);

// One declared key, as the schema lists it.
struct KeyInfo {
  std::string path;           // qualified: "api.endpoint", "pipelines[].id"
  std::string type;           // "string", "bool", "number", "duration", "list", "map", ...
  std::string default_value;  // the struct's default, as the file would spell it ("" if none)
  std::string range;          // "1–256", "at most 10m", "central or region", or ""
  std::string help;           // one line
};

class Section;

// Collects the problems of one document (or, made with Schema(), the declared keys).
class Checker {
 public:
  Checker(std::string_view source, std::vector<std::string>& errors,
          std::vector<std::string>& warnings);
  // A checker that reads no document: declarations only record their keys.
  static Checker Schema(std::vector<std::string>& sink);

  Section Root(const YAML::Node& root);
  // The document in `yaml`: invalid YAML, or a top level that is neither empty nor a
  // mapping ("the top level must be " + `top_level`), is reported and gives an undefined
  // node; an empty document gives a null node (the caller judges it).
  YAML::Node Load(std::string_view yaml, const char* top_level);
  // Declares the keys of `root` (declare), reports its unknown keys, then runs `after` (the
  // checks across keys); an exception of yaml-cpp on the way is reported with its line.
  void Walk(const YAML::Node& root, const std::function<void(Section&)>& declare,
            const std::function<void()>& after = nullptr);

  void Error(const YAML::Node& at, const std::string& msg);
  void Warn(const YAML::Node& at, const std::string& msg);
  void Error(const std::string& msg);  // about the whole file: no line
  bool schema_only() const { return schema_only_; }
  const std::vector<KeyInfo>& keys() const { return keys_; }

 private:
  friend class Section;
  std::string Where(const YAML::Node& n) const;

  std::string source_;
  std::vector<std::string>& errors_;
  std::vector<std::string>& warnings_;
  bool schema_only_ = false;
  std::vector<KeyInfo> keys_;  // recorded in schema-only mode
};

// One mapping of the document, which knows its path. Visitors declare a key, read it when
// present and not null (absent or null leaves `out` at its default), and return its node
// (undefined when absent) for checks that involve other keys. Movable, not copyable.
class Section {
 public:
  Section(Checker& c, YAML::Node node, std::string path, std::string schema_path);
  Section(Section&& other) noexcept;
  Section(const Section&) = delete;
  Section& operator=(const Section&) = delete;
  Section& operator=(Section&&) = delete;
  ~Section();  // reports the keys present but not declared

  // A nested mapping; when absent, null or not a mapping (an error) it reads as empty.
  Section Map(const char* key);
  // A list of items, each handed to `each` as a Section at "key[i]" (an item that is not a
  // mapping is `each`'s to judge: item.node()). In schema-only mode `each` runs once, on an
  // empty item at "key[]", so that the item's keys are declared.
  void Objects(const char* key, const char* what, const std::function<void(Section&)>& each);
  // A list of scalars, each handed to `each` with its node; `what` completes "must be ...".
  YAML::Node Sequence(const char* key, const char* what, const std::string& default_value,
                      const char* help, const std::function<void(const YAML::Node&)>& each);
  // A mapping whose keys are data (user names, header names), each handed to `each`.
  YAML::Node Entries(const char* key, const char* what, const char* help,
                     const std::function<void(const YAML::Node& k, const YAML::Node& v)>& each);

  YAML::Node String(const char* key, std::string& out, const char* help);
  YAML::Node Bool(const char* key, bool& out, const char* help);
  // One of `choices`; "must be a, b or c" otherwise.
  YAML::Node Choice(const char* key, std::string& out, std::initializer_list<const char*> choices,
                    const char* help);
  // A number in [min, max]; NaN and infinities fail.
  template <typename T>
  YAML::Node Number(const char* key, T& out, T min, T max, const char* help);
  // A Go-style duration up to `max` (every duration is added to time points: now + d).
  YAML::Node Duration(const char* key, std::chrono::nanoseconds& out, bool allow_zero,
                      std::chrono::nanoseconds max, const char* help);
  // A key whose value the caller reads itself.
  YAML::Node Raw(const char* key, const char* type, const char* help);

  // Values of this section (and those below) are never quoted back in messages: `why` says
  // so instead (a secret such as a token may have been pasted into any key).
  void NoEcho(const char* why) { no_echo_ = why; }

  const YAML::Node& node() const { return node_; }
  bool present() const { return node_.IsDefined() && !node_.IsNull(); }
  std::string Path(std::string_view key) const;  // "api.endpoint"
  Checker& checker() { return *c_; }
  // `, got "value"` for a message about a value of this section, or why it is not shown.
  std::string Got(const YAML::Node& n) const;

 private:
  // Declares `key` and returns its node when present and not null, else an undefined node.
  YAML::Node Declare(const char* key, const char* type, std::string default_value,
                     std::string range, const char* help);
  bool echo() const { return no_echo_ == nullptr; }

  YAML::Node Lookup(const char* key) const;

  Checker* c_;
  const YAML::Node node_;
  std::string path_;         // as in messages: "pipelines[2]"
  std::string schema_path_;  // as in the key list: "pipelines[]"
  const char* no_echo_ = nullptr;
  std::vector<std::string> declared_;
  bool moved_ = false;
};

template <typename T>
YAML::Node Section::Number(const char* key, T& out, T min, T max, const char* help) {
  std::ostringstream def, range;
  def << out;
  range << min << "–" << max;
  YAML::Node n = Declare(key, "number", def.str(), range.str(), help);
  if (!n) return n;
  T v{};
  if (!n.IsScalar() || !YAML::convert<T>::decode(n, v)) {
    c_->Error(n, "\"" + Path(key) + "\" must be a number" + Got(n));
    return n;
  }
  // Written so that NaN fails too (every comparison with NaN is false).
  if (!(v >= min && v <= max)) {
    std::ostringstream s;
    s << "\"" << Path(key) << "\" must be between " << min << " and " << max;
    if (echo()) s << ", got " << v;
    c_->Error(n, s.str());
    return n;
  }
  out = v;
  return n;
}

}  // namespace yfe::config
