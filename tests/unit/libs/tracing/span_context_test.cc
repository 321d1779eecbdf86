// W3C traceparent/tracestate parsing and formatting, including every malformed form the
// W3C test suite sends.
#include "libs/tracing/span_context.h"

#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace hermes::tracing {
namespace {

constexpr char kTrace[] = "4bf92f3577b34da6a3ce929d0e0e4736";
constexpr char kSpan[] = "00f067aa0ba902b7";
const std::string kValid = absl::StrCat("00-", kTrace, "-", kSpan, "-01");

TEST(TraceparentTest, Valid_ParsesIdsFlagsAndMarksRemote) {
  absl::optional<SpanContext> context = ParseTraceparent(kValid);
  ASSERT_TRUE(context.has_value());
  EXPECT_EQ(context->trace_id.ToHex(), kTrace);
  EXPECT_EQ(context->span_id.ToHex(), kSpan);
  EXPECT_EQ(context->trace_flags, 0x01);
  EXPECT_TRUE(context->sampled());
  EXPECT_TRUE(context->is_remote);
  EXPECT_TRUE(context->IsValid());
  EXPECT_EQ(context->trace_id.bytes()[0], 0x4b);
  EXPECT_EQ(context->span_id.bytes()[7], 0xb7);
}

TEST(TraceparentTest, UnsampledFlag_ParsesAsNotSampled) {
  absl::optional<SpanContext> context =
      ParseTraceparent(absl::StrCat("00-", kTrace, "-", kSpan, "-00"));
  ASSERT_TRUE(context.has_value());
  EXPECT_FALSE(context->sampled());
}

TEST(TraceparentTest, UnknownFlagBits_AcceptedButNotPropagated) {
  absl::optional<SpanContext> context =
      ParseTraceparent(absl::StrCat("00-", kTrace, "-", kSpan, "-ff"));
  ASSERT_TRUE(context.has_value());
  EXPECT_TRUE(context->sampled());
  EXPECT_EQ(context->Traceparent(), kValid);
}

TEST(TraceparentTest, SurroundingSpacesAndTabs_AreIgnored) {
  EXPECT_TRUE(ParseTraceparent(absl::StrCat(" \t", kValid, "\t ")).has_value());
}

TEST(TraceparentTest, Format_RoundTripsAsVersion00) {
  absl::optional<SpanContext> context = ParseTraceparent(kValid);
  ASSERT_TRUE(context.has_value());
  EXPECT_EQ(context->Traceparent(), kValid);
  context->trace_flags = 0;
  EXPECT_EQ(context->Traceparent(), absl::StrCat("00-", kTrace, "-", kSpan, "-00"));
}

TEST(TraceparentTest, FutureVersion_ParsedByThe00Layout) {
  // Exactly 55 characters, or more after a '-': a later version's extra fields are ignored.
  for (const std::string& value :
       {absl::StrCat("01-", kTrace, "-", kSpan, "-01"),
        absl::StrCat("cc-", kTrace, "-", kSpan, "-01-what-the-future-will-be-like"),
        absl::StrCat("fe-", kTrace, "-", kSpan, "-00-")}) {
    absl::optional<SpanContext> context = ParseTraceparent(value);
    ASSERT_TRUE(context.has_value()) << value;
    EXPECT_EQ(context->trace_id.ToHex(), kTrace);
    EXPECT_EQ(context->span_id.ToHex(), kSpan);
    // Propagated as version 00, the version implemented here.
    EXPECT_EQ(context->Traceparent().substr(0, 3), "00-");
  }
}

TEST(TraceparentTest, FutureVersion_FollowedByOtherThanDash_IsMalformed) {
  EXPECT_FALSE(ParseTraceparent(absl::StrCat("cc-", kTrace, "-", kSpan, "-01.what")).has_value());
  EXPECT_FALSE(ParseTraceparent(absl::StrCat("cc-", kTrace, "-", kSpan, "-010")).has_value());
}

TEST(TraceparentTest, EveryMalformedForm_IsRejected) {
  const std::string zeros_trace(32, '0');
  const std::string zeros_span(16, '0');
  const std::string cases[] = {
      "",
      "garbage",
      absl::StrCat("ff-", kTrace, "-", kSpan, "-01"),        // version ff is invalid
      absl::StrCat("0-", kTrace, "-", kSpan, "-01"),         // short version
      absl::StrCat("000-", kTrace, "-", kSpan, "-01"),       // long version
      absl::StrCat("0g-", kTrace, "-", kSpan, "-01"),        // version not hex
      absl::StrCat("00-", kTrace, "-", kSpan, "-01-"),       // 00 must end after the flags
      absl::StrCat("00-", kTrace, "-", kSpan, "-01-extra"),  // same
      absl::StrCat("00-", kTrace, "-", kSpan, "-1"),         // short flags
      absl::StrCat("00-", kTrace, "-", kSpan, "-0g"),        // flags not hex
      absl::StrCat("00-", kTrace, "-", kSpan),               // no flags
      absl::StrCat("00-", zeros_trace, "-", kSpan, "-01"),   // all-zero trace id
      absl::StrCat("00-", kTrace, "-", zeros_span, "-01"),   // all-zero span id
      absl::StrCat("00-", std::string(kTrace).substr(1), "-", kSpan, "-01"),       // short trace id
      absl::StrCat("00-", kTrace, "0-", kSpan, "-01"),                             // long trace id
      absl::StrCat("00-", kTrace, "-", std::string(kSpan).substr(1), "-01"),       // short span id
      absl::StrCat("00-", kTrace, "-", kSpan, "0-01"),                             // long span id
      absl::StrCat("00-", "4bf92f3577b34da6a3ce929d0e0e473z", "-", kSpan, "-01"),  // not hex
      absl::StrCat("00-", kTrace, "-", "00f067aa0ba902bz", "-01"),                 // not hex
      absl::StrCat("00_", kTrace, "-", kSpan, "-01"),  // wrong separators
      absl::StrCat("00-", kTrace, "_", kSpan, "-01"),
      absl::StrCat("00-", kTrace, "-", kSpan, "_01"),
      absl::StrCat("00-", kTrace, "-", kSpan, "-01\n"),  // not OWS
  };
  for (const std::string& value : cases) {
    EXPECT_FALSE(ParseTraceparent(value).has_value()) << "\"" << value << "\"";
  }
}

TEST(TraceparentTest, UpperCaseHex_IsRejected) {
  EXPECT_FALSE(ParseTraceparent(absl::StrCat("00-4BF92F3577B34DA6A3CE929D0E0E4736-", kSpan, "-01"))
                   .has_value());
  EXPECT_FALSE(ParseTraceparent(absl::StrCat("00-", kTrace, "-00F067AA0BA902B7-01")).has_value());
  EXPECT_FALSE(ParseTraceparent(absl::StrCat("0A-", kTrace, "-", kSpan, "-01")).has_value());
  EXPECT_FALSE(ParseTraceparent(absl::StrCat("00-", kTrace, "-", kSpan, "-0A")).has_value());
}

TEST(TracestateTest, WithinLimits_KeptAsIs) {
  EXPECT_EQ(AcceptTracestate("rojo=00f067aa0ba902b7,congo=t61rcWkgMzE"),
            "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE");
  EXPECT_EQ(AcceptTracestate(""), "");
}

TEST(TracestateTest, ThirtyTwoMembers_Kept_ThirtyThree_Dropped) {
  std::string members;
  for (int i = 0; i < 32; ++i) absl::StrAppend(&members, i == 0 ? "" : ",", "k", i, "=v");
  EXPECT_EQ(AcceptTracestate(members), members);
  // Empty members (",,") do not count, and are dropped.
  EXPECT_EQ(AcceptTracestate(members + ",, ,"), members);
  EXPECT_EQ(AcceptTracestate(members + ",k32=v"), "");
}

// The optional whitespace around members (tabs included) goes: what is kept must be a value
// gRPC will send on (it refuses a tab, and a call with one aborts the process).
TEST(TracestateTest, WhitespaceAroundMembers_Dropped_MembersKeptInOrder) {
  EXPECT_EQ(AcceptTracestate(" rojo=00f067aa0ba902b7 ,\tcongo=t61rcWkgMzE\t"),
            "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE");
  EXPECT_EQ(AcceptTracestate("a=b c"), "a=b c");  // a space inside a value is the value's
  EXPECT_EQ(AcceptTracestate("tenant1@sys=v,k_-*/9=x"), "tenant1@sys=v,k_-*/9=x");
}

// Anything outside W3C's grammar drops the whole header: a member is not repaired or skipped.
TEST(TracestateTest, OutsideTheW3cGrammar_Dropped) {
  for (const std::string bad : {
           "a=b\tc",      // a tab inside a value
           "a=b\x01",     // a control character
           "a=\xc3\xa9",  // non-ASCII
           "a=b=c",       // '=' in a value
           "a=",          // no value
           "=b",          // no key
           "ab",          // no '='
           "Ab=c",        // upper case in a key
           "1a=c",        // a simple key starts with a letter
           "a.b=c",       // a character keys do not have
           "t@=c",        // a multi-tenant key without its system
           "t@1sys=c",    // a system id starts with a letter
           "a=b,c",       // a member without '='
           "a=1,a=1",     // a key twice (W3C's test suite: test_tracestate_duplicated_keys)
           "a=1,b=2,a=3",
           "t@s=1,t@s=2",
       }) {
    EXPECT_EQ(AcceptTracestate(bad), "") << bad;
  }
  // A value may start with a space (it is the value's), not end with one (that is whitespace).
  EXPECT_EQ(AcceptTracestate("a=b,d= e"), "a=b,d= e");
  // Keys that share a beginning are different keys.
  EXPECT_EQ(AcceptTracestate("ab=1,a=2,a@s=3,a@st=4"), "ab=1,a=2,a@s=3,a@st=4");
  EXPECT_EQ(AcceptTracestate("a=" + std::string(256, 'v')), "a=" + std::string(256, 'v'));
  EXPECT_EQ(AcceptTracestate("a=" + std::string(257, 'v')), "");
}

// Member "<key>=<value>" of exactly `size` characters.
std::string MemberOfSize(absl::string_view key, size_t size) {
  return absl::StrCat(key, "=", std::string(size - key.size() - 1, 'v'));
}

TEST(TracestateTest, At512Characters_KeptWhole) {
  const std::string at_limit = absl::StrCat(MemberOfSize("a", 256), ",", MemberOfSize("b", 255));
  ASSERT_EQ(at_limit.size(), 512u);
  EXPECT_EQ(AcceptTracestate(at_limit), at_limit);
}

// W3C Trace Context 3.3.1.5: past 512 characters, members over 128 characters go first, then
// members from the end; the rest is kept in order.
TEST(TracestateTest, Over512Characters_MembersOver128GoFirst_LastFirst) {
  const std::string small = MemberOfSize("s", 100);
  const std::string big1 = MemberOfSize("big1", 200);
  const std::string big2 = MemberOfSize("big2", 200);
  // 100 + 200 + 200 + 3 commas + "t=1" = 506: fits, kept whole.
  EXPECT_EQ(AcceptTracestate(absl::StrJoin({small, big1, big2, std::string("t=1")}, ",")),
            absl::StrJoin({small, big1, big2, std::string("t=1")}, ","));
  // 100 + 200 + 200 + 100 + 3 = 603: dropping big2 (the last long one) makes it fit.
  const std::string tail = MemberOfSize("tail", 100);
  EXPECT_EQ(AcceptTracestate(absl::StrJoin({small, big1, big2, tail}, ",")),
            absl::StrJoin({small, big1, tail}, ","));
  // Three long ones: both later ones go before any short member does.
  const std::string big3 = MemberOfSize("big3", 129);
  EXPECT_EQ(AcceptTracestate(absl::StrJoin({big1, small, big2, big3, tail}, ",")),
            absl::StrJoin({big1, small, tail}, ","));
}

TEST(TracestateTest, Over512Characters_WithNoLongMembers_LastMembersGo) {
  std::vector<std::string> members;
  for (int i = 0; i < 6; ++i) members.push_back(MemberOfSize(absl::StrCat("k", i), 100));
  // 6 × 100 + 5 = 605; five members are 504.
  const std::vector<std::string> first_five(members.begin(), members.begin() + 5);
  EXPECT_EQ(AcceptTracestate(absl::StrJoin(members, ",")), absl::StrJoin(first_five, ","));
  // Whitespace and empty members do not count towards the length.
  EXPECT_EQ(AcceptTracestate(absl::StrJoin(first_five, " ,\t, ")), absl::StrJoin(first_five, ","));
  // Exactly 128 characters is not long: members go from the end, and this first one stays.
  std::vector<std::string> with_128 = first_five;
  with_128[0] = MemberOfSize("edge", 128);
  with_128.push_back(MemberOfSize("k5", 10));
  const std::vector<std::string> kept(with_128.begin(), with_128.begin() + 4);
  EXPECT_EQ(AcceptTracestate(absl::StrJoin(with_128, ",")), absl::StrJoin(kept, ","));
}

TEST(TracestateTest, OneMemberOver512Characters_NothingLeft) {
  EXPECT_EQ(AcceptTracestate(MemberOfSize(std::string(256, 'k'), 513)), "");
}

// Truncation is for length only: a list with an invalid member or too many is still dropped.
TEST(TracestateTest, Over512Characters_WithAnInvalidMember_Dropped) {
  const std::string too_long =
      absl::StrJoin({MemberOfSize("a", 200), MemberOfSize("b", 200), MemberOfSize("c", 200)}, ",");
  ASSERT_EQ(AcceptTracestate(too_long).size(), 401u);
  EXPECT_EQ(AcceptTracestate(too_long + ",Bad=1"), "");
}

TEST(ExtractSpanContextTest, ValidTraceparent_CarriesTracestate) {
  SpanContext context = ExtractSpanContext(kValid, "rojo=1");
  EXPECT_TRUE(context.IsValid());
  EXPECT_EQ(context.trace_state, "rojo=1");
}

TEST(ExtractSpanContextTest, MalformedTraceparent_GivesInvalidContextAndIgnoresTracestate) {
  SpanContext context = ExtractSpanContext("00-nope", "rojo=1");
  EXPECT_FALSE(context.IsValid());
  EXPECT_EQ(context.trace_state, "");
}

// As gRPC hands metadata over: a multimap of header name to value.
using Metadata = std::multimap<std::string, std::string>;

TEST(ExtractSpanContextFromTest, TracestateOverSeveralHeaders_IsOneList) {
  const Metadata metadata = {{"traceparent", kValid}, {"tracestate", "a=1"}, {"tracestate", "b=2"}};
  SpanContext context = ExtractSpanContextFrom(metadata);
  EXPECT_TRUE(context.IsValid());
  EXPECT_EQ(context.trace_state, "a=1,b=2");
}

TEST(ExtractSpanContextFromTest, NoneOrSeveralTraceparents_GiveAnInvalidContext) {
  EXPECT_FALSE(ExtractSpanContextFrom(Metadata{{"tracestate", "a=1"}}).IsValid());
  EXPECT_FALSE(
      ExtractSpanContextFrom(Metadata{{"traceparent", kValid}, {"traceparent", kValid}}).IsValid());
  EXPECT_TRUE(ExtractSpanContextFrom(Metadata{{"traceparent", kValid}}).IsValid());
}

TEST(IdTest, HexAndBinaryRoundTrip) {
  absl::optional<TraceId> id = TraceId::FromHex(kTrace);
  ASSERT_TRUE(id.has_value());
  EXPECT_EQ(id->ToHex(), kTrace);
  absl::optional<TraceId> again = TraceId::FromBinary(id->Binary());
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(*again, *id);
  EXPECT_FALSE(TraceId::FromBinary("short").has_value());
  EXPECT_FALSE(TraceId().IsValid());
  EXPECT_FALSE(SpanId().IsValid());
}

}  // namespace
}  // namespace hermes::tracing
