// Read-your-writes holding: completions run once the stages reach the
// sequence, at the deadline otherwise, and never twice.
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <future>
#include <memory>

#include "shoppulse/api/sequence_gate.hpp"

using namespace shoppulse;
using namespace shoppulse::api;
using namespace std::chrono_literals;

namespace {
struct Outcome {
  std::shared_ptr<std::promise<bool>> promise = std::make_shared<std::promise<bool>>();
  std::future<bool> future = promise->get_future();
  std::shared_ptr<std::atomic<int>> calls = std::make_shared<std::atomic<int>>(0);
  SequenceGate::Completion completion() {
    return [p = promise, c = calls](bool ready) {
      if (c->fetch_add(1) == 0) p->set_value(ready);
    };
  }
  bool done() { return future.wait_for(0s) == std::future_status::ready; }
};
}  // namespace

TEST_CASE("A sequence already applied completes at once", "[api][gate]") {
  SequenceGate gate;
  gate.start();
  gate.advance(Stage::windows, 10);
  Outcome o;
  REQUIRE(gate.wait(kWindows, 10, 10s, o.completion()));
  REQUIRE(o.done());
  CHECK(o.future.get());
}

TEST_CASE("A waiting request completes once every stage it reads has applied the sequence", "[api][gate]") {
  SequenceGate gate;
  gate.start();
  Outcome o;
  REQUIRE(gate.wait(kWindows | kRecommender, 5, 60s, o.completion()));
  gate.advance(Stage::windows, 7);
  gate.advance(Stage::recommender, 4);
  CHECK_FALSE(o.done());  // the recommender is still short of 5
  gate.advance(Stage::recommender, 5);
  REQUIRE(o.future.wait_for(10s) == std::future_status::ready);
  CHECK(o.future.get());
  CHECK(*o.calls == 1);
  CHECK(gate.applied(Stage::windows) == 7);
  gate.advance(Stage::windows, 3);  // never goes back
  CHECK(gate.applied(Stage::windows) == 7);
}

TEST_CASE("A request not applied by its deadline completes with ready = false", "[api][gate]") {
  SequenceGate gate;
  gate.start();
  Outcome late, other;
  REQUIRE(gate.wait(kWindows, 5, 1ms, late.completion()));
  REQUIRE(gate.wait(kWindows, 5, 60s, other.completion()));
  REQUIRE(late.future.wait_for(10s) == std::future_status::ready);
  CHECK_FALSE(late.future.get());
  CHECK_FALSE(other.done());  // its own deadline is far off
  gate.advance(Stage::windows, 5);
  REQUIRE(other.future.wait_for(10s) == std::future_status::ready);
  CHECK(other.future.get());
}

TEST_CASE("The gate bounds its waiters and answers every one at stop", "[api][gate]") {
  SequenceGate gate(2);
  gate.start();
  Outcome a, b, c;
  REQUIRE(gate.wait(kRecommender, 1, 60s, a.completion()));
  REQUIRE(gate.wait(kRecommender, 1, 60s, b.completion()));
  auto refused = gate.wait(kRecommender, 1, 60s, c.completion());
  REQUIRE_FALSE(refused);
  CHECK(refused.error().code == Errc::overloaded);
  gate.stop();
  REQUIRE(a.done());
  REQUIRE(b.done());
  CHECK_FALSE(a.future.get());
  CHECK_FALSE(b.future.get());
  CHECK_FALSE(c.done());
  auto stopped = gate.wait(kRecommender, 0, 60s, c.completion());
  REQUIRE_FALSE(stopped);
  CHECK(stopped.error().code == Errc::unavailable);
}

TEST_CASE("The gate tells the engine the smallest sequence a reader waits to see published", "[api][gate]") {
  SequenceGate gate;
  gate.start();
  CHECK(gate.windows_wanted() == SequenceGate::kNothingWanted);
  Outcome recommender_only, nine, six;
  REQUIRE(gate.wait(kRecommender, 3, 60s, recommender_only.completion()));
  CHECK(gate.windows_wanted() == SequenceGate::kNothingWanted);  // it does not read the windows
  REQUIRE(gate.wait(kWindows, 9, 60s, nine.completion()));
  REQUIRE(gate.wait(kWindows | kRecommender, 6, 60s, six.completion()));
  CHECK(gate.windows_wanted() == 6);
  gate.advance(Stage::windows, 7);  // six still waits for the recommender, but not for the windows
  CHECK(gate.windows_wanted() == 9);
  gate.advance(Stage::windows, 9);
  CHECK(gate.windows_wanted() == SequenceGate::kNothingWanted);
  REQUIRE(nine.future.wait_for(10s) == std::future_status::ready);
  CHECK(nine.future.get());
  gate.advance(Stage::recommender, 6);
  REQUIRE(six.future.wait_for(10s) == std::future_status::ready);
  REQUIRE(recommender_only.future.wait_for(10s) == std::future_status::ready);
}
