// yunxiao-flow-exporter: flags → config → App (API client, collector) → HTTP server.
#include <curl/curl.h>
#include <malloc.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <thread>

#include "app/api_check.h"
#include "app/app.h"
#include "app/backfill.h"
#include "config/config.h"
#include "config/flags.h"
#include "http/server.h"
#include "util/log.h"

namespace {

using namespace yfe;

// --config.check: the same load as the exporter's start (config::LoadForRun: the file, its
// secrets registered for redaction, the token), then the web config.
int CheckConfig(const config::Flags& flags) {
  const config::ConfigLoad load =
      config::LoadForRun(flags.config_file, std::getenv("YUNXIAO_TOKEN")).load;
  for (const auto& w : load.warnings) std::cout << logging::Redacted("warning: " + w) << "\n";
  for (const auto& e : load.errors) std::cout << logging::Redacted("error: " + e) << "\n";
  if (!load.ok()) {
    std::cout << flags.config_file << ": " << load.errors.size() << " problem"
              << (load.errors.size() == 1 ? "" : "s") << " found\n";
    return 1;
  }
  if (!flags.web_config_file.empty()) {
    if (const auto web = http::LoadWebConfig(flags.web_config_file); !web.ok()) {
      for (const auto& e : web.errors) std::cout << "error: " << e << "\n";
      std::cout << flags.web_config_file << ": " << web.errors.size() << " problem"
                << (web.errors.size() == 1 ? "" : "s") << " found\n";
      return 1;
    }
  }
  std::cout << flags.config_file << ": OK (" << load.config.pipelines.size()
            << " pipelines configured" << (load.config.discovery.enabled ? ", discovery on" : "")
            << ")\n";
  return 0;
}

// Raises the soft open-file limit to the hard one (as Go programs do) and returns how many
// HTTP connections fit under it, keeping some descriptors for the API client and files.
int ConnectionsThatFit(int wanted) {
  constexpr rlim_t kReserve = 64;
  rlimit nofile{};
  if (getrlimit(RLIMIT_NOFILE, &nofile) != 0) return wanted;
  if (nofile.rlim_cur < nofile.rlim_max) {
    rlimit raised = nofile;
    raised.rlim_cur = nofile.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &raised) == 0) nofile = raised;
  }
  if (nofile.rlim_cur == RLIM_INFINITY) return wanted;
  const rlim_t room =
      nofile.rlim_cur > 2 * kReserve ? nofile.rlim_cur - kReserve : nofile.rlim_cur / 2;
  if (static_cast<rlim_t>(wanted) <= room) return wanted;
  logging::Warn("--web.max-connections lowered to fit the open-file limit",
                {{"wanted", std::to_string(wanted)},
                 {"limit_nofile", std::to_string(nofile.rlim_cur)},
                 {"max_connections", std::to_string(room)}});
  return static_cast<int>(room);
}

http::ServerOptions ServerOptionsFor(const config::Flags& flags, const http::WebConfig& web,
                                     const config::ListenAddress& listen) {
  http::ServerOptions options;
  options.host = listen.host;
  options.port = listen.port;
  options.telemetry_path = flags.telemetry_path;
  options.version = app::App::Version();
  options.web = web;
  options.enable_lifecycle = flags.web_enable_lifecycle;
  options.limits.max_connections = ConnectionsThatFit(flags.web_max_connections);
  options.limits.max_requests_in_flight = flags.web_max_requests_in_flight;
  return options;
}

// The log line, and the one stable line on stdout (docs/configuration.md, "Output"):
// scripts read the port there, never in the log, whose wording may change.
void AnnounceListening(const config::Flags& flags, const http::WebConfig& web,
                       const std::string& listen_host, int port) {
  const std::string host = listen_host.empty() ? "0.0.0.0" : listen_host;
  logging::Info("listening", {{"address", host + ":" + std::to_string(port)},
                              {"telemetry_path", flags.telemetry_path},
                              {"tls", web.tls.has_value() ? "true" : "false"},
                              {"basic_auth", web.basic_auth_users.empty() ? "false" : "true"}});
  std::cout << "listening on " << (host.find(':') != std::string::npos ? "[" + host + "]" : host)
            << ":" << port << std::endl;
}

// Everything that uses libcurl lives here, so that it is gone before curl_global_cleanup().
int Run(const config::Flags& flags, const http::WebConfig& web, const sigset_t& signals) {
  app::App app(flags);
  logging::Info("starting yunxiao-flow-exporter",
                {{"version", app::App::Version()}, {"revision", app::App::Revision()}});
  if (auto loaded = app.Load(); !loaded.ok()) return 1;

  auto listen = config::ParseListenAddress(flags.listen_address);
  http::Handlers handlers;
  handlers.metrics = [&app] { return app.Scrape(); };
  handlers.not_ready = [&app] { return app.NotReady(); };
  handlers.reload = [&app] { return app.Load(); };
  http::HttpServer server(ServerOptionsFor(flags, web, *listen), handlers);
  auto port = server.Bind();
  if (!port.ok()) {
    logging::Error("cannot start the HTTP server", {{"err", port.error()}});
    return 1;
  }
  AnnounceListening(flags, web, listen->host, *port);

  // Shutdown is bounded whatever the clients and the upstream do: the server closes every
  // connection at once; should anything still hold the process after kShutdownDeadline
  // (a handler stuck in a library call), it exits anyway.
  constexpr auto kShutdownDeadline = std::chrono::milliseconds(4000);
  auto watchdog = [kShutdownDeadline] {
    try {
      std::thread([kShutdownDeadline] {
        std::this_thread::sleep_for(kShutdownDeadline);
        logging::Error("shutdown did not finish in time; exiting");
        _exit(1);
      }).detach();
    } catch (const std::system_error&) {
      // No thread to be had: the shutdown proceeds without its deadline.
    }
  };
  std::thread signal_thread;
  try {
    signal_thread = std::thread([&] {
      while (true) {
        int sig = 0;
        if (sigwait(&signals, &sig) != 0) continue;
        if (sig == SIGHUP) {
          logging::Info("SIGHUP: reloading the configuration");
          try {
            // A failed reload is logged by Load(); the running configuration stays.
            if (auto reloaded = app.Load(); !reloaded.ok()) continue;
          } catch (const std::exception& e) {
            logging::Error("reload failed", {{"err", e.what()}});
          }
          continue;
        }
        logging::Info("shutting down", {{"signal", sig == SIGTERM ? "SIGTERM" : "SIGINT"}});
        watchdog();
        app.Stop();  // outstanding fetches end now, so running scrapes answer at once
        server.Stop();
        return;
      }
    });
  } catch (const std::system_error& e) {
    logging::Error("cannot start the signal thread", {{"err", e.what()}});
    return 1;
  }
  server.Serve();
  // Serve() also returns if the server fails; make sure the signal thread ends.
  pthread_kill(signal_thread.native_handle(), SIGTERM);
  signal_thread.join();
  return 0;
}

// Memory and signals, before any thread starts.
void SetUpProcess(sigset_t& signals) {
  // Each scrape builds one large string; with glibc's defaults those land in per-thread
  // arenas that keep the memory after it is freed, so RSS would grow with the number of
  // HTTP worker threads. Large blocks are mapped and unmapped instead, arenas capped.
  mallopt(M_MMAP_THRESHOLD, 256 * 1024);
  mallopt(M_ARENA_MAX, 2);

  // Signals are taken by one thread with sigwait; block them before any thread starts.
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  auto parsed = config::ParseFlags(args);
  if (!parsed.ok()) {
    std::cerr << "yunxiao-flow-exporter: " << parsed.error() << "\n";
    return 2;
  }
  const config::Flags flags = *parsed;
  if (flags.help) {
    std::cout << config::Usage();
    return 0;
  }
  if (flags.version) {
    std::cout << "yunxiao-flow-exporter, version " << app::App::Version() << " (revision "
              << app::App::Revision() << ")\n";
    return 0;
  }
  // No core dump (nor ptrace by other users) of a process that holds the token.
  if (!flags.allow_core_dumps) prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
  // The token must never be echoed, even when pasted into the wrong config key.
  if (const char* token = std::getenv("YUNXIAO_TOKEN")) logging::RegisterSecret(token);
  if (flags.config_check) return CheckConfig(flags);
  if (flags.api_check) return app::RunApiCheck(flags, std::getenv("YUNXIAO_TOKEN"), std::cout);
  if (flags.backfill_since.count() > 0) {
    logging::Configure(flags.log_level, flags.log_format);
    return app::RunBackfill(flags, std::getenv("YUNXIAO_TOKEN"));
  }

  logging::Configure(flags.log_level, flags.log_format);

  sigset_t signals;
  SetUpProcess(signals);

  if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
    logging::Error("cannot initialise libcurl");
    return 1;
  }

  http::WebConfig web;
  if (!flags.web_config_file.empty()) {
    auto loaded = http::LoadWebConfig(flags.web_config_file);
    for (const auto& e : loaded.errors) logging::Error("invalid web config", {{"err", e}});
    if (!loaded.ok()) return 1;
    web = std::move(loaded.config);
  }

  const int rc = Run(flags, web, signals);
  curl_global_cleanup();
  if (rc == 0) logging::Info("stopped");
  return rc;
}
