// The event stream's channel: a plain one hands over every frame in order; a
// coalescing one (a dashboard's stream) keeps only the latest event of each
// key, sends what is pending as one `changes` frame at most once per
// interval, and never loses the last event of a key, a close, or an overflow.
#include "server/stream_channel.h"

#include <gtest/gtest.h>

#include <atomic>
#include <nlohmann/json.hpp>
#include <thread>

namespace jobwarden::server {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

// The `changes` frames in `out`, parsed.
std::vector<json> ChangesFrames(const std::string& out) {
  std::vector<json> frames;
  const std::string head = "event: changes\ndata: ";
  for (std::size_t at = out.find(head); at != std::string::npos; at = out.find(head, at + 1)) {
    const std::size_t start = at + head.size();
    frames.push_back(json::parse(out.substr(start, out.find("\n\n", start) - start)));
  }
  return frames;
}

TEST(StreamChannelTest, PlainChannelSendsEveryKeyedEventAsItsOwnFrame) {
  StreamChannel ch;
  ASSERT_TRUE(ch.PushKeyed("s1", "state", R"({"to":"running"})"));
  ASSERT_TRUE(ch.PushKeyed("s1", "state", R"({"to":"succeeded"})"));
  std::string out;
  ASSERT_TRUE(ch.Next(10ms, out));
  EXPECT_EQ(out, "event: state\ndata: {\"to\":\"running\"}\n\nevent: state\ndata: {\"to\":\"succeeded\"}\n\n");
}

TEST(StreamChannelTest, CoalescingKeepsTheLatestEventOfEachKeyInOneFrame) {
  StreamChannel ch(StreamChannel::kDefaultMaxPending, 50ms);
  ch.PushKeyed("s1", "state", R"({"job_id":"1","to":"running"})");
  ch.PushKeyed("p1", "progress", R"({"job_id":"1","done":1})");
  ch.PushKeyed("s2", "state", R"({"job_id":"2","to":"running"})");
  ch.PushKeyed("s1", "state", R"({"job_id":"1","to":"succeeded"})");
  std::string out;
  ASSERT_TRUE(ch.Next(200ms, out));
  const auto frames = ChangesFrames(out);
  ASSERT_EQ(frames.size(), 1u) << out;
  // job 1's running was replaced by its succeeded, which moved after the
  // events that came between them.
  const json expected = json::parse(R"({"events":[
      {"type":"progress","data":{"job_id":"1","done":1}},
      {"type":"state","data":{"job_id":"2","to":"running"}},
      {"type":"state","data":{"job_id":"1","to":"succeeded"}}]})");
  EXPECT_EQ(frames[0], expected);
}

TEST(StreamChannelTest, CoalescingSendsAtMostOneFramePerInterval) {
  StreamChannel ch(StreamChannel::kDefaultMaxPending, 100ms);
  std::atomic<bool> stop{false};
  std::thread producer([&] {
    for (int i = 0; !stop.load(); ++i) {
      ch.PushKeyed("s" + std::to_string(i % 50), "state", "{\"i\":" + std::to_string(i) + "}");
      std::this_thread::sleep_for(100us);
    }
  });
  std::string out;
  const auto t0 = std::chrono::steady_clock::now();
  int frames = 0;
  while (std::chrono::steady_clock::now() - t0 < 1s) {
    out.clear();
    ASSERT_TRUE(ch.Next(200ms, out));
    frames += static_cast<int>(ChangesFrames(out).size());
  }
  const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  stop = true;
  producer.join();
  // One interval after each flush: no more than elapsed / interval + the first.
  EXPECT_GE(frames, 2);
  EXPECT_LE(frames, static_cast<int>(elapsed / 0.1) + 1);
}

TEST(StreamChannelTest, CoalescingFlushesPendingEventsBeforeTheFinalFrame) {
  StreamChannel ch(StreamChannel::kDefaultMaxPending, 10s);
  std::string out;
  ch.PushKeyed("s1", "state", R"({"to":"running"})");
  ASSERT_TRUE(ch.Next(50ms, out));  // the first event of a quiet channel goes at once
  ASSERT_EQ(ChangesFrames(out).size(), 1u);
  out.clear();
  ch.PushKeyed("s1", "state", R"({"to":"succeeded"})");
  ASSERT_TRUE(ch.Next(50ms, out));  // within the interval: held back
  EXPECT_EQ(out, "");
  ch.Close("event: shutdown\ndata: {}\n\n");
  EXPECT_FALSE(ch.Next(50ms, out));
  const auto frames = ChangesFrames(out);
  ASSERT_EQ(frames.size(), 1u) << out;
  EXPECT_EQ(frames[0]["events"][0]["data"]["to"], "succeeded");
  EXPECT_EQ(out.substr(out.size() - 26), "event: shutdown\ndata: {}\n\n");
}

TEST(StreamChannelTest, CoalescingOverflowsOnTooManyDistinctKeys) {
  StreamChannel ch(3, 10s);
  std::string out;
  ch.PushKeyed("warm", "state", "{}");
  ASSERT_TRUE(ch.Next(50ms, out));
  out.clear();
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(ch.PushKeyed("s" + std::to_string(i), "state", "{}"));
  ASSERT_TRUE(ch.PushKeyed("s1", "state", "{}"));  // a known key: replaced, not counted again
  ASSERT_TRUE(ch.PushKeyed("s3", "state", "{}"));  // the fourth key
  EXPECT_FALSE(ch.PushKeyed("s4", "state", "{}"));
  EXPECT_FALSE(ch.Next(50ms, out));
  EXPECT_NE(out.find("event: overflow"), std::string::npos) << out;
  EXPECT_TRUE(ChangesFrames(out).empty()) << out;
}

}  // namespace
}  // namespace jobwarden::server
