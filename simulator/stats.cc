#include "stats.h"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

namespace yfe::sim {

void Stats::Record(Endpoint endpoint, int status) {
  std::lock_guard lock(mu_);
  ++total_;
  ++counts_[static_cast<size_t>(endpoint)][status];
}

void Stats::Enter() {
  const int now = in_flight_.fetch_add(1) + 1;
  int seen = in_flight_max_.load();
  while (now > seen && !in_flight_max_.compare_exchange_weak(seen, now)) {
  }
}

void Stats::Exit() { in_flight_.fetch_sub(1); }

void Stats::Reset() {
  std::lock_guard lock(mu_);
  total_ = 0;
  for (auto& m : counts_) m.clear();
  in_flight_max_.store(in_flight_.load());
}

int64_t Stats::Total() const {
  std::lock_guard lock(mu_);
  return total_;
}

int64_t Stats::Count(Endpoint endpoint, int status) const {
  std::lock_guard lock(mu_);
  const auto& m = counts_[static_cast<size_t>(endpoint)];
  auto it = m.find(status);
  return it == m.end() ? 0 : it->second;
}

std::string Stats::RenderJson() const {
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  std::lock_guard lock(mu_);
  w.StartObject();
  w.Key("total");
  w.Int64(total_);
  w.Key("inFlightMax");
  w.Int(in_flight_max_.load());
  w.Key("requests");
  w.StartObject();
  for (int e = 0; e < kEndpointCount; ++e) {
    w.Key(EndpointName(static_cast<Endpoint>(e)));
    w.StartObject();
    for (const auto& [status, count] : counts_[static_cast<size_t>(e)]) {
      const std::string key = std::to_string(status);
      w.Key(key.c_str(), static_cast<rapidjson::SizeType>(key.size()));
      w.Int64(count);
    }
    w.EndObject();
  }
  w.EndObject();
  w.EndObject();
  return std::string(buf.GetString(), buf.GetSize());
}

}  // namespace yfe::sim
