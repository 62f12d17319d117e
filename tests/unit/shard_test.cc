#include "collector/shard.h"

#include <gtest/gtest.h>

#include <string>

namespace yfe::collector {
namespace {

TEST(Shard, EveryIdInExactlyOneShard) {
  for (int i = 0; i < 1000; ++i) {
    std::string id = std::to_string(1000000 + i);
    int owners = 0;
    for (int s = 0; s < 3; ++s) owners += InShard(id, s, 3);
    EXPECT_EQ(owners, 1);
  }
  EXPECT_EQ(StableHash("abc"), 0xe71fa2190541574bull);  // FNV-1a 64: stable forever
}

TEST(Shard, OneReplicaOwnsEveryPipeline) {
  for (const char* id : {"1", "1000001", "abc"}) {
    EXPECT_TRUE(InShard(id, 0, 1)) << id;
    EXPECT_TRUE(InShard(id, 0, 0)) << id;  // sharding off
  }
}

}  // namespace
}  // namespace yfe::collector
