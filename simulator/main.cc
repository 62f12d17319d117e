// flow-simulator: a stand-in for the Yunxiao Flow OpenAPI (see README in
// simulator/ and docs of yunxiao-flow-exporter).
#include <pthread.h>
#include <signal.h>

#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <string>
#include <vector>

#include "sim_config.h"
#include "sim_server.h"
#include "world.h"

int main(int argc, char** argv) {
  using namespace yfe::sim;
  SimConfig config;
  bool help = false;
  std::vector<std::string> errors;
  if (!ParseArgs(argc, argv, std::getenv("SIM_TOKEN"), &config, &help, &errors)) {
    for (const std::string& e : errors) std::fprintf(stderr, "flow-simulator: %s\n", e.c_str());
    std::fprintf(stderr, "\n%s", Usage().c_str());
    return 2;
  }
  if (help) {
    std::fputs(Usage().c_str(), stdout);
    return 0;
  }

  // Signals are taken synchronously by this thread; block them before any
  // other thread exists so that every thread inherits the mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  SimClock clock(config.frozen_clock_ms);
  World world(config.world, &clock);
  ServerOptions options;
  options.token = config.token;
  options.list_style = config.list_style;
  options.max_per_page = config.max_per_page;
  options.paging_headers = config.paging_headers;
  options.threads = config.threads;
  options.faults = config.faults;
  SimServer server(&world, options);

  const int port = server.Start(config.listen_host, config.listen_port);
  if (port < 0) {
    std::fprintf(stderr, "flow-simulator: cannot listen on %s:%d\n", config.listen_host.c_str(),
                 config.listen_port);
    return 1;
  }
  std::fprintf(stderr,
               "flow-simulator: organization %s, %d pipelines x %d stages x %d jobs, seed %llu, "
               "clock %s, %d threads\n",
               config.world.organization_id.c_str(), config.world.pipelines, config.world.stages,
               config.world.jobs_per_stage, static_cast<unsigned long long>(config.world.seed),
               clock.IsFrozen() ? "frozen" : "real", config.threads);
  std::printf("flow-simulator listening on %s:%d\n", config.listen_host.c_str(), port);
  std::fflush(stdout);

  int exit_code = 0;
  for (;;) {
    const timespec timeout{0, 200 * 1000 * 1000};
    const int sig = sigtimedwait(&signals, nullptr, &timeout);
    if (sig == SIGINT || sig == SIGTERM) {
      std::fprintf(stderr, "flow-simulator: signal %d, shutting down\n", sig);
      break;
    }
    if (!server.Running()) {
      std::fprintf(stderr, "flow-simulator: server stopped unexpectedly\n");
      exit_code = 1;
      break;
    }
  }
  server.Stop();
  std::fprintf(stderr, "flow-simulator: stopped\n");
  return exit_code;
}
