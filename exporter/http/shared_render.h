// SharedRender: turns a function that renders the exposition as text into the Body that
// /metrics serves, so that concurrent scrapes, and clients that request /metrics and read
// slowly or never, do not each hold their own copy of it.
//   - Scrapes that arrive while a render runs wait for it and share its body: one render
//     at a time, whatever the number of scrapers (a joined render started at most one
//     render's duration before the scrape arrived).
//   - Consecutive renders differ in a few lines (the exporter's own counters) and agree on
//     the rest (the pipelines' series, unchanged until the cache changes). A new body keeps
//     only the bytes that differ and shares the rest with the body it was compared to, as
//     long as anyone still holds that one; when most of the text changed it starts afresh.
// So N bodies in flight cost one full text plus N small differences. A collector that makes
// shared, pre-compressed bodies itself makes this unnecessary.
//
// Thread-safe.
#pragma once

#include <condition_variable>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include "http/body.h"

namespace yfe::http {

class SharedRender {
 public:
  // `render` returns the exposition text, or "" when there is none (served as 503).
  explicit SharedRender(std::function<std::string()> render) : render_(std::move(render)) {}

  // The body of the render running now, or of a new one; nullptr if there is no text.
  std::shared_ptr<const Body> Get();

  // Renders run so far (for tests).
  long Renders() const;

 private:
  struct Flight {
    bool done = false;
    std::shared_ptr<const Body> body;
    std::exception_ptr error;
  };
  std::shared_ptr<const Body> Make(std::string text);

  std::function<std::string()> render_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::shared_ptr<Flight> flight_;         // the render running now, if any
  std::weak_ptr<const std::string> base_;  // the full text the last bodies share
  long renders_ = 0;
};

// The identity bytes of a body (for tests).
std::string BodyText(const Body& body);

}  // namespace yfe::http
