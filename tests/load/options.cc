#include "tests/load/options.h"

#include <sched.h>

#include <algorithm>
#include <fstream>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <sstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "tests/load/json_body.h"

namespace hermes::load {
namespace {

constexpr int kOpenLoopDefaultCap = 10000;
constexpr int kMaxWorkers = 64;

absl::Status Bad(absl::string_view flag, absl::string_view value, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat("--", flag, "=", value, ": ", what));
}

absl::Status ParseInt(absl::string_view flag, const std::string& value, int min, int* out) {
  if (!absl::SimpleAtoi(value, out)) return Bad(flag, value, "want a whole number");
  if (*out < min) return Bad(flag, value, absl::StrCat("must be at least ", min));
  return absl::OkStatus();
}

absl::Status ParsePositive(absl::string_view flag, const std::string& value, double* out) {
  if (!absl::SimpleAtod(value, out) || !(*out > 0) || *out > 1e9) {
    return Bad(flag, value, "want a number above 0");
  }
  return absl::OkStatus();
}

absl::Status ParseDuration(absl::string_view flag, const std::string& value, bool allow_zero,
                           absl::Duration* out) {
  if (!absl::ParseDuration(value, out) || *out == absl::InfiniteDuration() ||
      *out < absl::ZeroDuration()) {
    return Bad(flag, value, "want a duration such as 10s, 500ms or 1m");
  }
  if (!allow_zero && *out == absl::ZeroDuration()) return Bad(flag, value, "must be above 0");
  return absl::OkStatus();
}

absl::Status ReadFile(absl::string_view flag, const std::string& path, std::string* out) {
  std::ifstream file(path, std::ios::binary);
  if (!file) return Bad(flag, path, "cannot be read");
  std::ostringstream contents;
  contents << file.rdbuf();
  *out = contents.str();
  return absl::OkStatus();
}

// The flags' parsers, by name; `seen` records which were given.
class FlagTable {
 public:
  using Parser = std::function<absl::Status(const std::string& value)>;

  void Add(const std::string& name, Parser parser) { parsers_[name] = std::move(parser); }
  void AddSwitch(const std::string& name, bool* target) { switches_[name] = target; }

  absl::Status Apply(const std::string& name, const std::optional<std::string>& inline_value,
                     const std::vector<std::string>& args, size_t* i) {
    seen_.insert(name);
    if (auto it = switches_.find(name); it != switches_.end()) {
      if (!inline_value.has_value() || *inline_value == "true" || *inline_value == "1") {
        *it->second = true;
      } else if (*inline_value == "false" || *inline_value == "0") {
        *it->second = false;
      } else {
        return Bad(name, *inline_value, "want true or false");
      }
      return absl::OkStatus();
    }
    auto it = parsers_.find(name);
    if (it == parsers_.end()) {
      return absl::InvalidArgumentError(absl::StrCat("unknown flag --", name, " (see --help)"));
    }
    if (inline_value.has_value()) return it->second(*inline_value);
    if (*i + 1 >= args.size()) {
      return absl::InvalidArgumentError(absl::StrCat("--", name, " needs a value"));
    }
    return it->second(args[++*i]);
  }

  bool Seen(const std::string& name) const { return seen_.contains(name); }
  const std::set<std::string>& seen() const { return seen_; }

 private:
  std::map<std::string, Parser> parsers_;
  std::map<std::string, bool*> switches_;
  std::set<std::string> seen_;
};

absl::Status CheckCombinations(const FlagTable& flags, LoadOptions& options) {
  if (options.call.empty()) {
    return absl::InvalidArgumentError(
        "--call is required, e.g. --call user.v1.UserService/GetUser (see --help)");
  }
  if (flags.Seen("data") && flags.Seen("data_file")) {
    return absl::InvalidArgumentError("--data and --data_file exclude each other: give one");
  }
  const bool any_tls = !options.ca_file.empty() || !options.cert_file.empty() ||
                       !options.key_file.empty() || !options.server_name.empty();
  if (options.insecure && any_tls) {
    return absl::InvalidArgumentError(
        "--insecure excludes --cacert, --cert, --key and --server_name: give one transport");
  }
  if (!options.insecure) {
    std::vector<std::string> missing;
    if (options.ca_file.empty()) missing.push_back("--cacert");
    if (options.cert_file.empty()) missing.push_back("--cert");
    if (options.key_file.empty()) missing.push_back("--key");
    if (!missing.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("mutual TLS needs --cacert, --cert and --key (missing ",
                       absl::StrJoin(missing, ", "), "); or pass --insecure for plaintext"));
    }
  }
  if (options.rps > 0 && !flags.Seen("concurrency")) options.concurrency = kOpenLoopDefaultCap;
  if (!flags.Seen("duration") && options.total > 0) options.duration = absl::InfiniteDuration();
  if (options.workers == 0) options.workers = AvailableCpus();
  return absl::OkStatus();
}

}  // namespace

int AvailableCpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) != 0) return 1;
  return std::max(1, CPU_COUNT(&set));
}

absl::StatusOr<LoadOptions> ParseLoadOptions(const std::vector<std::string>& args) {
  LoadOptions options;
  FlagTable flags;
  auto text = [](std::string* target) {
    return [target](const std::string& value) {
      *target = value;
      return absl::OkStatus();
    };
  };
  flags.Add("call", text(&options.call));
  flags.Add("addr", text(&options.address));
  flags.Add("data", text(&options.data));
  std::string data_file;  // read once the flags are known to be consistent
  flags.Add("data_file", text(&data_file));
  std::string values_file;
  flags.Add("values_file", text(&values_file));
  flags.AddSwitch("insecure", &options.insecure);
  flags.Add("cacert", text(&options.ca_file));
  flags.Add("cert", text(&options.cert_file));
  flags.Add("key", text(&options.key_file));
  flags.Add("server_name", text(&options.server_name));
  flags.Add("connections", [&](const std::string& value) {
    return ParseInt("connections", value, 1, &options.connections);
  });
  flags.Add("concurrency", [&](const std::string& value) {
    return ParseInt("concurrency", value, 1, &options.concurrency);
  });
  flags.Add("rps",
            [&](const std::string& value) { return ParsePositive("rps", value, &options.rps); });
  flags.Add("duration", [&](const std::string& value) {
    return ParseDuration("duration", value, /*allow_zero=*/false, &options.duration);
  });
  flags.Add("total", [&](const std::string& value) {
    if (!absl::SimpleAtoi(value, &options.total) || options.total == 0) {
      return Bad("total", value, "want a whole number above 0");
    }
    return absl::OkStatus();
  });
  flags.Add("warmup", [&](const std::string& value) {
    return ParseDuration("warmup", value, /*allow_zero=*/true, &options.warmup);
  });
  flags.Add("timeout", [&](const std::string& value) {
    return ParseDuration("timeout", value, /*allow_zero=*/false, &options.timeout);
  });
  flags.Add("streams", [&](const std::string& value) {
    return ParseInt("streams", value, 1, &options.streams);
  });
  flags.Add("stream_open_rate", [&](const std::string& value) {
    return ParsePositive("stream_open_rate", value, &options.stream_open_rate);
  });
  flags.Add("latency_field", text(&options.latency_field));
  flags.Add("streams_ready_file", text(&options.streams_ready_file));
  flags.Add("stream_messages", [&](const std::string& value) {
    if (!absl::SimpleAtoi(value, &options.stream_messages) || options.stream_messages == 0) {
      return Bad("stream_messages", value, "want a whole number above 0");
    }
    return absl::OkStatus();
  });
  flags.Add("format", [&](const std::string& value) {
    if (value == "text") {
      options.format = ReportFormat::kText;
    } else if (value == "json") {
      options.format = ReportFormat::kJson;
    } else {
      return Bad("format", value, "want text or json");
    }
    return absl::OkStatus();
  });
  flags.Add("workers", [&](const std::string& value) {
    absl::Status status = ParseInt("workers", value, 1, &options.workers);
    if (status.ok() && options.workers > kMaxWorkers) {
      return Bad("workers", value, absl::StrCat("at most ", kMaxWorkers));
    }
    return status;
  });
  flags.AddSwitch("help", &options.help);

  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    std::string name;
    std::optional<std::string> inline_value;
    if (arg == "-d") {
      name = "data";
    } else if (arg == "-h") {
      name = "help";
    } else if (arg.size() > 2 && arg.starts_with("--")) {
      name = arg.substr(2);
      if (const size_t eq = name.find('='); eq != std::string::npos) {
        inline_value = name.substr(eq + 1);
        name.resize(eq);
      }
    } else {
      return absl::InvalidArgumentError(
          absl::StrCat("unexpected argument \"", arg, "\": flags start with -- (see --help)"));
    }
    if (absl::Status status = flags.Apply(name, inline_value, args, &i); !status.ok()) {
      return status;
    }
  }
  options.given = flags.seen();
  if (options.help) return options;
  if (absl::Status status = CheckCombinations(flags, options); !status.ok()) return status;
  if (flags.Seen("data_file")) {
    if (absl::Status status = ReadFile("data_file", data_file, &options.data); !status.ok()) {
      return status;
    }
  }
  if (flags.Seen("values_file")) {
    std::string contents;
    if (absl::Status status = ReadFile("values_file", values_file, &contents); !status.ok()) {
      return status;
    }
    absl::StatusOr<std::vector<std::string>> values = ParseValues(contents);
    if (!values.ok()) return values.status();
    options.values = *std::move(values);
  }
  return options;
}

std::string LoadUsage() {
  return R"(hermes-load: a gRPC load generator for Hermes (ghz-like), driving any method by name.

Usage: hermes-load --call SERVICE/METHOD [flags]

  --call NAME              method, e.g. user.v1.UserService/GetUser (or ...UserService.GetUser)
  --addr HOST:PORT         server address (default 127.0.0.1:50051)
  -d, --data JSON          request body (protobuf JSON); a JSON array = the messages of one
                           stream (client-streaming and bidi). {{n}} = the call's number,
                           0, 1, 2, ... unique across the run (default {})
  --data_file PATH         read the body from a file instead
  --values_file PATH       one value a line; {{value}} in the body = line n % lines, n being
                           the call's number (warm-up included): with --total = lines and no
                           warm-up, each line is used once
  --insecure               plaintext
  --cacert, --cert, --key  mutual TLS: the CA bundle, and our certificate and key (PEM)
  --server_name NAME       host name to check the server's certificate for
  --connections N          distinct connections (default 1); calls spread round-robin
  --concurrency C          calls in flight (closed loop, default 50); with --rps, the cap on
                           calls in flight (default 10000). Split evenly across --workers, each
                           sending every Nth call: with a tight cap and uneven latencies, a
                           worker may hit its share while others have room (--workers 1: one cap)
  --rps R                  open loop: sends at t0 + i/R; latency counts from that intended time
  --duration D             measured time after the warm-up, e.g. 10s (default 10s unless --total);
                           for streams it starts once every stream is open
  --total N                measured calls (whichever of --duration and --total comes first)
  --warmup D               not counted: calls started in this first period; for streams,
                           messages received in it once all streams are open (default 0s)
  --timeout D              deadline of each unary/client-streaming call; for streams, how
                           long response headers and the closing may take (default 5s)
  --streams N              server-streaming and bidi: concurrent streams (default 1)
  --stream_open_rate R     streams opened per second (default 2000)
  --latency_field PATH     Timestamp field of the responses (e.g. event_time, user.updated_at)
                           for delivery latency = receive time - that time
  --streams_ready_file P   written (the number of open streams) once every stream got its
                           response headers, or failed; "streams ready: N in X ms" on stderr.
                           A stream counts as opened once it has headers: one the server
                           refuses right after its headers (Hermes sends x-request-id in them)
                           may count as opened as well as failed
  --stream_messages N      end the run once N messages have arrived on all the streams
                           together, counted from the first stream's opening (warm-up and all);
                           --duration still bounds it. For a script that knows how many it
                           caused, instead of stopping the run while some are on their way
  --format text|json       report format (default text)
  --workers N              threads, each with its own completion queue (default: the CPUs
                           this process may run on)
  -h, --help               this text

Exit codes: 0 the run completed (non-OK statuses are in the report), 1 bad flags, body or
method, 2 no connection could be made.
)";
}

}  // namespace hermes::load
