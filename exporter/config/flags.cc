#include "config/flags.h"

#include <charconv>

#include "util/duration.h"

namespace yfe::config {
namespace {

Result<int> ParseInt(std::string_view flag, const std::string& v) {
  int out = 0;
  auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), out);
  if (ec != std::errc() || p != v.data() + v.size()) {
    return Error("flag --" + std::string(flag) + " needs a whole number, got \"" + v + "\"");
  }
  return out;
}

Result<int> ParseConnections(std::string_view flag, const std::string& v) {
  YFE_ASSIGN_OR_RETURN(int n, ParseInt(flag, v));
  if (n < 1 || n > 1000000)
    return Error("flag --" + std::string(flag) + " needs 1 <= N <= 1000000");
  return n;
}

std::string Quoted(const std::string& s) { return s.empty() ? "" : "\"" + s + "\""; }

const char* LevelName(logging::Level l) {
  constexpr const char* kNames[] = {"debug", "info", "warn", "error"};
  return kNames[static_cast<int>(l)];
}

// The setters and shows of the plain flags: the table's rows name their field.
template <bool Flags::*field>
Status SetSwitch(Flags& f, const std::string& v) {
  f.*field = v == "true";
  return Ok();
}
template <std::string Flags::*field>
Status SetString(Flags& f, const std::string& v) {
  f.*field = v;
  return Ok();
}
template <std::string Flags::*field>
std::string ShowString(const Flags& f) {
  return Quoted(f.*field);
}

// The flags, in --help's order: one row each. A table, hence long.
constexpr FlagDef kFlags[] = {
    {"config.file", "PATH", "configuration file", ShowString<&Flags::config_file>,
     SetString<&Flags::config_file>},
    {"config.check", "", "validate the configuration, print every problem, exit 0 or 1", nullptr,
     SetSwitch<&Flags::config_check>},
    {"api.check", "",
     "probe the Flow API with this configuration (token, organization,\n"
     "permissions, pipelines, request budget), one line per check",
     nullptr, SetSwitch<&Flags::api_check>},
    {"web.listen-address", "ADDR", "address to listen on", ShowString<&Flags::listen_address>,
     [](Flags& f, const std::string& v) -> Status {
       YFE_RETURN_IF_ERROR(ParseListenAddress(v));
       f.listen_address = v;
       return Ok();
     }},
    {"web.telemetry-path", "PATH", "path under which to expose metrics",
     ShowString<&Flags::telemetry_path>,
     [](Flags& f, const std::string& v) -> Status {
       YFE_RETURN_IF_ERROR(ValidTelemetryPath(v));
       f.telemetry_path = v;
       return Ok();
     }},
    {"web.config.file", "PATH", "TLS and basic-auth configuration (exporter-toolkit format)",
     ShowString<&Flags::web_config_file>, SetString<&Flags::web_config_file>},
    {"web.enable-lifecycle", "", "enable POST/PUT /-/reload (SIGHUP always reloads)", nullptr,
     SetSwitch<&Flags::web_enable_lifecycle>},
    {"web.max-connections", "N", "open HTTP connections; more are closed at once",
     [](const Flags& f) { return std::to_string(f.web_max_connections); },
     [](Flags& f, const std::string& v) -> Status {
       YFE_ASSIGN_OR_RETURN(f.web_max_connections, ParseConnections("web.max-connections", v));
       return Ok();
     }},
    {"web.max-requests-in-flight", "N",
     "/metrics requests served at once; more wait up to 1 s,\nthen get 503",
     [](const Flags& f) { return std::to_string(f.web_max_requests_in_flight); },
     [](Flags& f, const std::string& v) -> Status {
       YFE_ASSIGN_OR_RETURN(f.web_max_requests_in_flight,
                            ParseConnections("web.max-requests-in-flight", v));
       return Ok();
     }},
    {"log.level", "LEVEL", "debug, info, warn or error",
     [](const Flags& f) { return Quoted(LevelName(f.log_level)); },
     [](Flags& f, const std::string& v) -> Status {
       auto l = logging::ParseLevel(v);
       if (!l.ok()) return Error("flag --log.level: " + l.error());
       f.log_level = *l;
       return Ok();
     }},
    {"log.format", "FORMAT", "logfmt or json",
     [](const Flags& f) {
       return Quoted(f.log_format == logging::Format::kJson ? "json" : "logfmt");
     },
     [](Flags& f, const std::string& v) -> Status {
       auto l = logging::ParseFormat(v);
       if (!l.ok()) return Error("flag --log.format: " + l.error());
       f.log_format = *l;
       return Ok();
     }},
    {"shard.index", "I", "this replica's shard, 0 <= I < N",
     [](const Flags& f) { return std::to_string(f.shard_index); },
     [](Flags& f, const std::string& v) -> Status {
       YFE_ASSIGN_OR_RETURN(f.shard_index, ParseInt("shard.index", v));
       return Ok();
     }},
    {"shard.total", "N", "number of replicas sharing the pipelines",
     [](const Flags& f) { return std::to_string(f.shard_total); },
     [](Flags& f, const std::string& v) -> Status {
       YFE_ASSIGN_OR_RETURN(f.shard_total, ParseInt("shard.total", v));
       return Ok();
     }},
    {"debug.allow-core-dumps", "", "keep the process dumpable (cores and ptrace hold the token)",
     nullptr, SetSwitch<&Flags::allow_core_dumps>},
    {"backfill.since", "DURATION",
     "one-shot: read the run history of the watched pipelines back this far (e.g. 90d),\n"
     "write it as OpenMetrics to --backfill.output and the ledger's starting point to\n"
     "collect.state_dir, then exit (docs/backfill.md)",
     nullptr,
     [](Flags& f, const std::string& v) -> Status {
       auto d = ParseDuration(v);
       if (!d.ok()) return Error("flag --backfill.since: " + d.error());
       f.backfill_since = *d;
       return Ok();
     }},
    {"backfill.output", "FILE",
     "where the OpenMetrics text goes (for promtool tsdb create-blocks-from openmetrics)", nullptr,
     SetString<&Flags::backfill_output>},
    {"backfill.step", "DURATION", "one sample per series every DURATION",
     [](const Flags& f) { return FormatDuration(f.backfill_step); },
     [](Flags& f, const std::string& v) -> Status {
       auto d = ParseDuration(v);
       if (!d.ok()) return Error("flag --backfill.step: " + d.error());
       f.backfill_step = *d;
       return Ok();
     }},
    {"backfill.labels", "L",
     "name=value,... added to every backfilled series: the labels Prometheus gives\n"
     "the exporter's target (e.g. job=...,instance=...)",
     nullptr, SetString<&Flags::backfill_labels>},
    {"backfill.overwrite-state", "", "replace an existing run ledger in collect.state_dir", nullptr,
     SetSwitch<&Flags::backfill_overwrite_state>},
    {"backfill.chunk", "DURATION",
     "write one file per DURATION of samples (FILE.0001.om, ...; aligned to the epoch, as\n"
     "promtool's blocks), each valid on its own: import and delete them one by one",
     nullptr,
     [](Flags& f, const std::string& v) -> Status {
       auto d = ParseDuration(v);
       if (!d.ok()) return Error("flag --backfill.chunk: " + d.error());
       if (*d < std::chrono::hours(1)) return Error("flag --backfill.chunk needs at least 1h");
       f.backfill_chunk = *d;
       return Ok();
     }},
    {"backfill.max-chunks-on-disk", "N",
     "with --backfill.chunk: wait before writing a chunk while N chunks written are still\n"
     "there (an import loop deletes them): at most N chunks on disk (0: no wait)",
     [](const Flags& f) { return std::to_string(f.backfill_max_chunks_on_disk); },
     [](Flags& f, const std::string& v) -> Status {
       YFE_ASSIGN_OR_RETURN(f.backfill_max_chunks_on_disk,
                            ParseInt("backfill.max-chunks-on-disk", v));
       if (f.backfill_max_chunks_on_disk < 0) {
         return Error("flag --backfill.max-chunks-on-disk needs N >= 0");
       }
       return Ok();
     }},
    {"version", "", "print the version and exit", nullptr, SetSwitch<&Flags::version>},
    {"help", "", "print this help and exit", nullptr, SetSwitch<&Flags::help>},
};

const FlagDef* Find(std::string_view name) {
  if (name == "h") name = "help";
  for (const FlagDef& d : kFlags) {
    if (d.name == name) return &d;
  }
  return nullptr;
}

// "  --name=VALUE" padded to the help column, then the help, its later lines indented.
std::string UsageLine(const FlagDef& d) {
  constexpr size_t kColumn = 30;
  std::string line = "  --" + std::string(d.name);
  if (!d.value.empty()) line += "=" + std::string(d.value);
  line += line.size() + 2 <= kColumn ? std::string(kColumn - line.size(), ' ')
                                     : "\n" + std::string(kColumn, ' ');
  std::string help(d.help);
  if (std::string def = d.show ? d.show(Flags{}) : ""; !def.empty()) {
    help += " (default " + def + ")";
  }
  for (char c : help) line += c == '\n' ? "\n" + std::string(kColumn, ' ') : std::string(1, c);
  return line + "\n";
}

}  // namespace

std::span<const FlagDef> AllFlags() { return kFlags; }

Status ValidTelemetryPath(const std::string& path) {
  const std::string what = "flag --web.telemetry-path: \"" + path + "\" ";
  if (path.empty() || path.front() != '/') return Error(what + "must start with /");
  if (path == "/" || path.starts_with("/-/")) {
    return Error(what + "is taken by the landing page or the /-/ endpoints");
  }
  if (path.size() > 1024) return Error("flag --web.telemetry-path is longer than 1024 characters");
  for (char c : path) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '/' || c == '_' || c == '.' || c == '~' || c == '-';
    if (!ok) {
      return Error(what + "may only contain letters, digits and / _ . ~ - (it is a literal path)");
    }
  }
  return Ok();
}

std::string Usage() {
  std::string usage =
      "Usage: yunxiao-flow-exporter [flags]\n\n"
      "Prometheus exporter for Alibaba Cloud Yunxiao Flow (CI/CD pipelines).\n\nFlags:\n";
  for (const FlagDef& d : kFlags) usage += UsageLine(d);
  return usage +
         "\nThe API token comes from api.token_file if set, else the YUNXIAO_TOKEN environment "
         "variable.\n";
}

Result<Flags> ParseFlags(const std::vector<std::string>& args) {
  Flags f;
  for (size_t i = 0; i < args.size(); ++i) {
    if (!args[i].starts_with("--")) {
      return Error("unexpected argument \"" + args[i] + "\" (see --help)");
    }
    const std::string arg = args[i].substr(2);
    const auto eq = arg.find('=');
    const std::string name = arg.substr(0, eq);
    std::string value = eq == std::string::npos ? "" : arg.substr(eq + 1);
    const FlagDef* def = Find(name);
    if (def == nullptr) return Error("unknown flag --" + name + " (see --help)");
    if (def->value.empty()) {
      if (eq == std::string::npos) value = "true";
      if (value != "true" && value != "false") {
        return Error("flag --" + name + " takes true or false");
      }
    } else if (eq == std::string::npos) {
      if (i + 1 >= args.size()) return Error("flag --" + name + " needs a value");
      value = args[++i];
    }
    YFE_RETURN_IF_ERROR(def->set(f, value));
  }
  if (f.shard_total < 1 || f.shard_index < 0 || f.shard_index >= f.shard_total) {
    return Error("flags --shard.index and --shard.total need 0 <= index < total");
  }
  if ((f.backfill_since.count() > 0) != !f.backfill_output.empty()) {
    return Error("flags --backfill.since and --backfill.output go together");
  }
  if (f.backfill_since.count() > 0 &&
      (f.backfill_step < std::chrono::seconds(1) || f.backfill_step > f.backfill_since)) {
    return Error("flag --backfill.step needs 1s <= step <= --backfill.since");
  }
  return f;
}

Result<ListenAddress> ParseListenAddress(const std::string& text) {
  auto colon = text.rfind(':');
  if (colon == std::string::npos) {
    return Error("listen address \"" + text + "\" must be host:port or :port");
  }
  ListenAddress a;
  a.host = text.substr(0, colon);
  if (a.host.size() >= 2 && a.host.front() == '[' && a.host.back() == ']') {
    a.host = a.host.substr(1, a.host.size() - 2);
  }
  std::string port = text.substr(colon + 1);
  auto [p, ec] = std::from_chars(port.data(), port.data() + port.size(), a.port);
  if (ec != std::errc() || p != port.data() + port.size() || a.port < 0 || a.port > 65535) {
    return Error("listen address \"" + text + "\" has an invalid port");
  }
  return a;
}

}  // namespace yfe::config
