#include "dashboard/list_query.h"

#include <gtest/gtest.h>

namespace lumen::dashboard {
namespace {

const std::vector<std::string> kKeys{"state", "name", "pid"};

std::vector<Json> Actors(int alive, int dead) {
  std::vector<Json> rows;
  for (int i = 0; i < dead; ++i)
    rows.push_back({{"state", "DEAD"}, {"name", "d" + std::to_string(i)}, {"pid", i}});
  for (int i = 0; i < alive; ++i)
    rows.push_back({{"state", "ALIVE"}, {"name", "a" + std::to_string(i)}, {"pid", 1000 + i}});
  return rows;
}

TEST(ListQueryTest, DefaultsAreRaysLimitWithoutFiltersOrDetail) {
  auto q = ParseListQuery({}, kKeys);
  ASSERT_TRUE(q.ok()) << q.status().ToString();
  EXPECT_EQ(q->limit, kDefaultListLimit);
  EXPECT_FALSE(q->detail);
  EXPECT_TRUE(q->filters.empty());
}

TEST(ListQueryTest, FiltersComeInThreesInOrder) {
  QueryParams params{{"filter_keys", "state"}, {"filter_predicates", "="},  {"filter_values", "ALIVE"},
                     {"filter_keys", "name"},  {"filter_predicates", "!="}, {"filter_values", "a1"},
                     {"limit", "7"},           {"detail", "true"}};
  auto q = ParseListQuery(params, kKeys);
  ASSERT_TRUE(q.ok()) << q.status().ToString();
  ASSERT_EQ(q->filters.size(), 2u);
  EXPECT_EQ(q->filters[0].key, "state");
  EXPECT_TRUE(q->filters[0].equal);
  EXPECT_EQ(q->filters[1].value, "a1");
  EXPECT_FALSE(q->filters[1].equal);
  EXPECT_EQ(q->limit, 7);
  EXPECT_TRUE(q->detail);
}

TEST(ListQueryTest, AQueryStringKeepsEveryRepeatedPairDecoded) {
  QueryParams params = ParseQueryString(
      "filter_keys=state&filter_predicates=%3D&filter_values=ALIVE&filter_keys=name&filter_predicates=%3D"
      "&filter_values=a+b%2Fc&limit=5&&flag&bad=%zz%4");
  auto count = [&](const std::string &key) { return params.count(key); };
  EXPECT_EQ(count("filter_keys"), 2u);
  EXPECT_EQ(count("filter_predicates"), 2u);  // the same value twice: both kept
  auto values = params.equal_range("filter_values");
  ASSERT_NE(values.first, values.second);
  EXPECT_EQ(values.first->second, "ALIVE");
  EXPECT_EQ(std::next(values.first)->second, "a b/c");
  EXPECT_EQ(params.find("limit")->second, "5");
  EXPECT_EQ(params.find("flag")->second, "");
  EXPECT_EQ(params.find("bad")->second, "%zz%4");  // malformed escapes stay as they are
  EXPECT_TRUE(ParseQueryString("").empty());
  auto query = ParseListQuery(ParseQueryString("filter_keys=state&filter_predicates=%3D&filter_values=ALIVE"
                                               "&filter_keys=name&filter_predicates=%3D&filter_values=x"),
                              kKeys);
  ASSERT_TRUE(query.ok()) << query.status().ToString();
  EXPECT_EQ(query->filters.size(), 2u);
}

TEST(ListQueryTest, BadParametersSayWhatIsWrong) {
  struct Case {
    QueryParams params;
    std::string says;
  };
  const std::vector<Case> cases{
      {{{"limit", "0"}}, "limit"},
      {{{"limit", "10001"}}, "limit"},
      {{{"limit", "ten"}}, "limit"},
      {{{"limit", "5x"}}, "limit"},
      {{{"detail", "maybe"}}, "detail"},
      {{{"filter_keys", "state"}, {"filter_predicates", "="}}, "threes"},
      {{{"filter_keys", "colour"}, {"filter_predicates", "="}, {"filter_values", "x"}},
       "cannot filter by 'colour'"},
      {{{"filter_keys", "state"}, {"filter_predicates", ">"}, {"filter_values", "x"}}, "predicate"},
  };
  for (const Case &c : cases) {
    auto q = ParseListQuery(c.params, kKeys);
    ASSERT_FALSE(q.ok()) << c.says;
    EXPECT_EQ(q.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(q.status().message().find(c.says), std::string::npos) << q.status().message();
  }
}

// Ray truncates before it filters (ray-project/ray#33547): a RUNNING filter
// over more rows than the limit found nothing. Here the filter comes first.
TEST(ListQueryTest, FiltersApplyBeforeTheLimit) {
  ListQuery q;
  q.limit = 5;
  q.filters.push_back({"state", true, "ALIVE"});
  ListResult r = ApplyListQuery(q, Actors(/*alive=*/10, /*dead=*/20000), {});
  EXPECT_EQ(r.total, 20010);
  EXPECT_EQ(r.num_filtered, 10);
  ASSERT_EQ(r.rows.size(), 5u);
  for (const auto &row : r.rows) EXPECT_EQ(row["state"], "ALIVE");
  Json j = r.ToJson();
  EXPECT_EQ(j["num_after_truncation"], 5);
  EXPECT_EQ(j["num_filtered"], 10);
  EXPECT_EQ(j["total"], 20010);
}

TEST(ListQueryTest, AnOffsetSkipsMatchesBeforeTheLimit) {
  QueryParams params{{"offset", "7"},
                     {"limit", "2"},
                     {"filter_keys", "state"},
                     {"filter_predicates", "="},
                     {"filter_values", "alive"}};
  auto q = ParseListQuery(params, {"state"});
  ASSERT_TRUE(q.ok()) << q.status().ToString();
  EXPECT_EQ(q->offset, 7);
  ListResult r = ApplyListQuery(*q, Actors(/*alive=*/10, /*dead=*/5), {});
  EXPECT_EQ(r.num_filtered, 10);
  ASSERT_EQ(r.rows.size(), 2u);
  EXPECT_EQ(r.rows[0]["state"], "ALIVE");
  q->offset = 9;
  EXPECT_EQ(ApplyListQuery(*q, Actors(10, 5), {}).rows.size(), 1u);
  q->offset = 10;
  EXPECT_EQ(ApplyListQuery(*q, Actors(10, 5), {}).rows.size(), 0u);
  EXPECT_FALSE(ParseListQuery({{"offset", "-3"}}, {}).ok());
  EXPECT_FALSE(ParseListQuery({{"offset", "3x"}}, {}).ok());
}

TEST(ListQueryTest, ComparesAsTextIgnoringCaseAndNumbersByTheirDigits) {
  ListQuery q;
  q.filters.push_back({"state", true, "alive"});
  q.filters.push_back({"pid", true, "1003"});
  ListResult r = ApplyListQuery(q, Actors(5, 5), {});
  ASSERT_EQ(r.rows.size(), 1u);
  EXPECT_EQ(r.rows[0]["name"], "a3");
}

TEST(ListQueryTest, AMissingFieldMatchesOnlyNotEqual) {
  std::vector<Json> rows{{{"name", "x"}}, {{"name", "y"}, {"state", "ALIVE"}}};
  ListQuery eq;
  eq.filters.push_back({"state", true, "ALIVE"});
  EXPECT_EQ(ApplyListQuery(eq, rows, {}).num_filtered, 1);
  ListQuery ne;
  ne.filters.push_back({"state", false, "ALIVE"});
  ListResult r = ApplyListQuery(ne, rows, {});
  ASSERT_EQ(r.rows.size(), 1u);
  EXPECT_EQ(r.rows[0]["name"], "x");
}

TEST(ListQueryTest, WithoutDetailRowsKeepTheSummaryFields) {
  ListQuery q;
  ListResult brief = ApplyListQuery(q, Actors(1, 0), {"name", "state"});
  ASSERT_EQ(brief.rows.size(), 1u);
  EXPECT_EQ(brief.rows[0].size(), 2u);
  EXPECT_FALSE(brief.rows[0].contains("pid"));
  q.detail = true;
  ListResult full = ApplyListQuery(q, Actors(1, 0), {"name", "state"});
  EXPECT_TRUE(full.rows[0].contains("pid"));
}

}  // namespace
}  // namespace lumen::dashboard
