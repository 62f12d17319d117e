#include "config/flags.h"

#include <charconv>

namespace yfe::config {
namespace {

Result<int> ParseInt(const std::string& flag, const std::string& v) {
  int out = 0;
  auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), out);
  if (ec != std::errc() || p != v.data() + v.size()) {
    return Error("flag --" + flag + " needs a whole number, got \"" + v + "\"");
  }
  return out;
}

}  // namespace

Result<bool> ValidTelemetryPath(const std::string& path) {
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
  return true;
}

std::string Usage() {
  return R"(Usage: yunxiao-flow-exporter [flags]

Prometheus exporter for Alibaba Cloud Yunxiao Flow (CI/CD pipelines).

Flags:
  --config.file=PATH          configuration file (default "config.yaml")
  --config.check              validate the configuration, print every problem, exit 0 or 1
  --api.check                 probe the Flow API with this configuration (token, organization,
                              permissions, pipelines, request budget), one line per check
  --web.listen-address=ADDR   address to listen on (default ":9847")
  --web.telemetry-path=PATH   path under which to expose metrics (default "/metrics")
  --web.config.file=PATH      TLS and basic-auth configuration (exporter-toolkit format)
  --web.enable-lifecycle      enable POST/PUT /-/reload (default off; SIGHUP always reloads)
  --web.max-connections=N     open HTTP connections; more are closed at once (default 2048)
  --web.max-requests-in-flight=N
                              /metrics requests served at once; more wait up to 1 s,
                              then get 503 (default 40)
  --log.level=LEVEL           debug, info, warn or error (default "info")
  --log.format=FORMAT         logfmt or json (default "logfmt")
  --shard.index=I             this replica's shard, 0 <= I < N (default 0)
  --shard.total=N             number of replicas sharing the pipelines (default 1)
  --debug.allow-core-dumps    keep the process dumpable (cores and ptrace hold the token)
  --version                   print the version and exit
  --help                      print this help and exit

The API token comes from api.token_file if set, else the YUNXIAO_TOKEN environment variable.
)";
}

Result<Flags> ParseFlags(const std::vector<std::string>& args) {
  Flags f;
  for (size_t i = 0; i < args.size(); ++i) {
    std::string arg = args[i];
    if (!arg.starts_with("--")) return Error("unexpected argument \"" + arg + "\" (see --help)");
    arg.erase(0, 2);
    std::string name = arg, value;
    bool has_value = false;
    if (auto eq = arg.find('='); eq != std::string::npos) {
      name = arg.substr(0, eq);
      value = arg.substr(eq + 1);
      has_value = true;
    }
    auto need = [&]() -> Result<std::string> {
      if (has_value) return value;
      if (i + 1 < args.size()) return args[++i];
      return Error("flag --" + name + " needs a value");
    };
    auto boolean = [&](bool& out) -> Result<bool> {
      if (!has_value || value == "true") {
        out = true;
      } else if (value == "false") {
        out = false;
      } else {
        return Error("flag --" + name + " takes true or false");
      }
      return true;
    };
    Result<bool> done = true;
    if (name == "config.file") {
      auto v = need();
      if (!v.ok()) return Error(v.error());
      f.config_file = *v;
    } else if (name == "config.check") {
      done = boolean(f.config_check);
    } else if (name == "api.check") {
      done = boolean(f.api_check);
    } else if (name == "web.listen-address") {
      auto v = need();
      if (!v.ok()) return Error(v.error());
      f.listen_address = *v;
      auto parsed = ParseListenAddress(f.listen_address);
      if (!parsed.ok()) return Error(parsed.error());
    } else if (name == "web.telemetry-path") {
      auto v = need();
      if (!v.ok()) return Error(v.error());
      auto valid = ValidTelemetryPath(*v);
      if (!valid.ok()) return Error(valid.error());
      f.telemetry_path = *v;
    } else if (name == "web.config.file") {
      auto v = need();
      if (!v.ok()) return Error(v.error());
      f.web_config_file = *v;
    } else if (name == "web.enable-lifecycle") {
      done = boolean(f.web_enable_lifecycle);
    } else if (name == "web.max-connections" || name == "web.max-requests-in-flight") {
      auto v = need();
      if (!v.ok()) return Error(v.error());
      auto n = ParseInt(name, *v);
      if (!n.ok()) return Error(n.error());
      if (*n < 1 || *n > 1000000) return Error("flag --" + name + " needs 1 <= N <= 1000000");
      (name == "web.max-connections" ? f.web_max_connections : f.web_max_requests_in_flight) = *n;
    } else if (name == "log.level") {
      auto v = need();
      if (!v.ok()) return Error(v.error());
      auto l = logging::ParseLevel(*v);
      if (!l.ok()) return Error("flag --log.level: " + l.error());
      f.log_level = *l;
    } else if (name == "log.format") {
      auto v = need();
      if (!v.ok()) return Error(v.error());
      auto l = logging::ParseFormat(*v);
      if (!l.ok()) return Error("flag --log.format: " + l.error());
      f.log_format = *l;
    } else if (name == "shard.index" || name == "shard.total") {
      auto v = need();
      if (!v.ok()) return Error(v.error());
      auto n = ParseInt(name, *v);
      if (!n.ok()) return Error(n.error());
      (name == "shard.index" ? f.shard_index : f.shard_total) = *n;
    } else if (name == "debug.allow-core-dumps") {
      done = boolean(f.allow_core_dumps);
    } else if (name == "version") {
      done = boolean(f.version);
    } else if (name == "help" || name == "h") {
      f.help = true;
    } else {
      return Error("unknown flag --" + name + " (see --help)");
    }
    if (!done.ok()) return Error(done.error());
  }
  if (f.shard_total < 1 || f.shard_index < 0 || f.shard_index >= f.shard_total) {
    return Error("flags --shard.index and --shard.total need 0 <= index < total");
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
