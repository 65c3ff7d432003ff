// ask: the `ask` latency workload for CAF 0.17 (see README.md).
//
// S = 1,000 server actors answer an int64_t v with v + 1.  C = 16 client
// actors each do N / C asks (N = 1,000,000 x scale): a client picks a server
// with its own MINSTD generator (seeded with its index + 1) and sends
// request(server, 5 s, v), v being its count of answered asks so far; the
// .then continuation checks the answer, records the round trip and sends the
// next ask.  A timeout or error fails the run.  Each client keeps its
// samples; main merges and sorts them after the timed section and reports
// nearest-rank percentiles.
//
//   ask SCALE THREADS [TIMEOUT_S]
//
// prints exactly one line on stdout,
//   RESULT workload=ask impl=caf threads=T msgs=2N secs=.. rate=.. rss_kb=..
//          asks=N p50_us=.. p99_us=.. p999_us=.. max_us=.. rss_timed_kb=..
// (rss_kb: peak RSS of the whole run, sorting the samples included;
// rss_timed_kb: peak RSS at the end of the timed section)
// or a RESULT_FAILED line (exit status 2).  A watchdog thread _exit()s with
// status 3 after TIMEOUT_S seconds (default 300).
#include <caf/all.hpp>

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cinttypes>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <thread>
#include <vector>

using namespace caf;

namespace {

using clk = std::chrono::steady_clock;
using go_atom = atom_constant<atom("go")>;
using done_atom = atom_constant<atom("done")>;
using fail_atom = atom_constant<atom("fail")>;

constexpr uint64_t n_servers = 1000;
constexpr uint64_t n_clients = 16;
constexpr uint64_t minstd_m = 2147483647;

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
           clk::now().time_since_epoch())
    .count();
}

long peak_rss_kb() {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_maxrss; // kB on Linux
}

void start_watchdog(int secs) {
  std::thread([secs] {
    std::this_thread::sleep_for(std::chrono::seconds(secs));
    std::fprintf(stderr, "caf ask: watchdog timeout after %d s\n", secs);
    std::fflush(stderr);
    _exit(3);
  }).detach();
}

[[noreturn]] void fail_run(int threads, const std::string& why) {
  std::printf("RESULT_FAILED workload=ask impl=caf threads=%d reason=%s\n",
              threads, why.c_str());
  std::fflush(stdout);
  std::fprintf(stderr, "caf ask: failed: %s\n", why.c_str());
  std::fflush(stderr);
  _exit(2);
}

behavior server(event_based_actor*) {
  return {[](int64_t v) { return v + 1; }};
}

using server_list = std::shared_ptr<const std::vector<actor>>;

struct client_state {
  uint64_t x = 0;       // MINSTD state
  uint64_t left = 0;    // asks still to do
  int64_t answered = 0; // v: asks answered so far
  int64_t t0 = 0;
  std::vector<int64_t>* samples = nullptr; // owned by main
};

void next_ask(stateful_actor<client_state>* self, const server_list& servers,
              const actor& main_actor) {
  auto& st = self->state;
  if (st.left == 0) {
    // The mailbox hand-off orders the writes to *samples before main reads.
    self->send(main_actor, done_atom::value);
    self->quit();
    return;
  }
  st.x = (st.x * 48271) % minstd_m;
  const actor& srv = (*servers)[st.x % n_servers];
  int64_t v = st.answered;
  st.t0 = now_ns();
  self->request(srv, std::chrono::seconds(5), v)
    .then(
      [=](int64_t r) {
        auto t1 = now_ns();
        auto& s = self->state;
        if (r != v + 1) {
          self->send(main_actor, fail_atom::value,
                     "wrong_answer_" + std::to_string(r) + "_for_"
                       + std::to_string(v));
          self->quit();
          return;
        }
        s.samples->push_back(t1 - s.t0);
        s.answered = v + 1;
        s.left -= 1;
        next_ask(self, servers, main_actor);
      },
      [=](error& err) {
        auto what = self->system().render(err);
        for (auto& c : what)
          if (c == ' ')
            c = '_';
        self->send(main_actor, fail_atom::value, what);
        self->quit();
      });
}

behavior client(stateful_actor<client_state>* self, server_list servers,
                uint64_t index, uint64_t asks, std::vector<int64_t>* samples,
                actor main_actor) {
  self->state.x = index + 1;
  self->state.left = asks;
  self->state.samples = samples;
  return {
    [=](go_atom) { next_ask(self, servers, main_actor); },
  };
}

// Nearest rank: sorted[ceil(num/den * n) - 1], in integers.
int64_t rank(const std::vector<int64_t>& sorted, uint64_t num, uint64_t den) {
  uint64_t n = sorted.size();
  uint64_t r = (num * n + den - 1) / den;
  return sorted[r < 1 ? 0 : r - 1];
}

} // namespace

int main(int argc, char** argv) {
  double scale = argc > 1 ? std::atof(argv[1]) : 1.0;
  int threads = argc > 2 ? std::atoi(argv[2]) : 2;
  int timeout_s = argc > 3 ? std::atoi(argv[3]) : 300;
  if (threads < 1)
    threads = 1;
  start_watchdog(timeout_s);
  auto nl = std::llround(1000000.0 * scale);
  uint64_t n = nl < 1 ? 1 : static_cast<uint64_t>(nl);
  uint64_t per_client = n / n_clients;
  uint64_t asks = per_client * n_clients;
  if (asks == 0)
    fail_run(threads, "scale_too_small");
  actor_system_config cfg;
  cfg.set("scheduler.max-threads", threads);
  actor_system sys{cfg};
  int workers = static_cast<int>(sys.scheduler().num_workers());
  std::vector<std::vector<int64_t>> samples(n_clients);
  for (auto& s : samples)
    s.reserve(per_client);
  double secs;
  long timed_kb;
  {
    scoped_actor self{sys};
    auto servers = std::make_shared<std::vector<actor>>();
    servers->reserve(n_servers);
    for (uint64_t i = 0; i < n_servers; ++i)
      servers->push_back(sys.spawn(server));
    server_list shared = servers;
    std::vector<actor> clients;
    for (uint64_t i = 0; i < n_clients; ++i)
      clients.push_back(sys.spawn(client, shared, i, per_client, &samples[i],
                                  actor{self}));
    auto t0 = clk::now();
    for (auto& c : clients)
      self->send(c, go_atom::value);
    std::string failure;
    for (uint64_t i = 0; i < n_clients && failure.empty(); ++i)
      self->receive([](done_atom) {},
                    [&](fail_atom, const std::string& why) { failure = why; });
    auto t1 = clk::now();
    timed_kb = peak_rss_kb();
    if (!failure.empty())
      fail_run(workers, failure);
    secs = std::chrono::duration<double>(t1 - t0).count();
    for (auto& s : *servers)
      anon_send_exit(s, exit_reason::user_shutdown);
  }
  std::vector<int64_t> all;
  all.reserve(asks);
  for (auto& s : samples)
    all.insert(all.end(), s.begin(), s.end());
  if (all.size() != asks)
    fail_run(workers, "sample_count_" + std::to_string(all.size()));
  std::sort(all.begin(), all.end());
  uint64_t msgs = 2 * asks;
  std::printf("RESULT workload=ask impl=caf threads=%d msgs=%" PRIu64
              " secs=%.6f rate=%.1f rss_kb=%ld asks=%" PRIu64
              " p50_us=%.1f p99_us=%.1f p999_us=%.1f max_us=%.1f"
              " rss_timed_kb=%ld\n",
              workers, msgs, secs, msgs / secs, peak_rss_kb(), asks,
              rank(all, 500, 1000) / 1000.0, rank(all, 990, 1000) / 1000.0,
              rank(all, 999, 1000) / 1000.0, all.back() / 1000.0, timed_kb);
  std::fflush(stdout);
}
