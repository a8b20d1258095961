// .safetensors I/O: the exact bytes written, files written by other writers (whitespace, key order,
// escapes), round trips of every dtype, empty, scalar and non-contiguous tensors and metadata, and
// one test per error path of the reader.
#include <cstdint>
#include <filesystem>
#include <iterator>
#include <limits>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "core/error.h"
#include "core/safetensors.h"
#include "core/tensor.h"
#include "io_test_util.h"

namespace fs = std::filesystem;

namespace {

using mech::io_testing::io_error_of;
using mech::io_testing::raw_bytes;

std::string length_prefix(std::uint64_t length) {
  std::string bytes;
  for (int i = 0; i < 8; ++i) bytes += static_cast<char>((length >> (8 * i)) & 0xff);
  return bytes;
}

// A file with the given JSON header (unpadded) and data region.
std::string file_with_header(const std::string& json, const std::string& data) {
  return length_prefix(json.size()) + json + data;
}

void expect_bytes_error(const std::string& bytes, const std::string& phrase) {
  const std::string message =
      io_error_of([&] { (void)mech::load_safetensors_from_bytes(bytes, "bad.safetensors"); });
  EXPECT_NE(message.find("'bad.safetensors'"), std::string::npos) << message;
  EXPECT_NE(message.find(phrase), std::string::npos) << "expected '" << phrase << "' in: " << message;
}

// One valid F32 tensor "w" of two elements, for corrupting.
const std::string kOneTensorJson = R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";

// ---- the bytes written -----------------------------------------------------------------------

TEST(Safetensors, WritesTheExpectedBytes) {
  // Length prefix, compact JSON with the metadata first, spaces up to a multiple of 8 (79 -> 80),
  // then the data.
  const std::string json =
      R"({"__metadata__":{"k":"v"},"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";
  ASSERT_EQ(json.size(), 79u);
  const std::vector<float> values = {1.0f, 2.0f};
  const std::string expected = std::string("\x50\0\0\0\0\0\0\0", 8) + json + " " + raw_bytes(values);
  EXPECT_EQ(mech::save_safetensors_to_bytes({{"w", mech::from_vector(values, {2})}}, {{"k", "v"}}),
            expected);
}

TEST(Safetensors, DataFollowsInSaveOrderAndStartsAligned) {
  const auto bytes = mech::save_safetensors_to_bytes(
      {{"b", mech::from_vector(std::vector<std::int64_t>{7, 8}, {2})},
       {"a", mech::from_vector(std::vector<float>{0.5f}, {})}});
  std::uint64_t header_length = 0;
  for (int i = 0; i < 8; ++i) {
    header_length |= static_cast<std::uint64_t>(static_cast<unsigned char>(bytes[i])) << (8 * i);
  }
  EXPECT_EQ(header_length % 8, 0u);
  EXPECT_EQ(bytes.substr(8 + header_length),
            raw_bytes(std::vector<std::int64_t>{7, 8}) + raw_bytes(std::vector<float>{0.5f}));
}

// ---- round trips -----------------------------------------------------------------------------

TEST(Safetensors, RoundTripsEveryDtypeShapeAndMetadata) {
  const std::vector<float> f32 = {1.5f, -0.0f, std::numeric_limits<float>::infinity(), 3e38f, -7.25f, 1e-45f};
  const std::vector<double> f64 = {1.0 / 3.0, -1e-300, std::numeric_limits<double>::max()};
  const std::vector<std::int64_t> i64 = {std::numeric_limits<std::int64_t>::min(), 0,
                                         std::numeric_limits<std::int64_t>::max()};
  const std::map<std::string, std::string> metadata = {
      {"step", "120"}, {"note", "quote \" backslash \\ newline \n tab \t bell \x07 é"}, {"", ""}};
  const std::string bytes = mech::save_safetensors_to_bytes(
      {{"encoder.0.weight", mech::from_vector(f32, {2, 3})},
       {"scalar", mech::from_vector(std::vector<double>{2.5}, {})},
       {"empty", mech::from_vector(std::vector<double>{}, {0, 4})},
       {"steps", mech::from_vector(f64, {3, 1})},
       {"", mech::from_vector(std::vector<float>{4.0f}, {1, 1})},
       {"name with \"quotes\" and ü", mech::from_vector(i64, {3})}},
      metadata);
  const mech::SafetensorsFile file = mech::load_safetensors_from_bytes(bytes);
  ASSERT_EQ(file.tensors.size(), 6u);
  // File order, which is save order; the empty tensor shares its offset with the next one.
  std::vector<std::string> names;
  for (const auto& entry : file.tensors) names.push_back(entry.first);
  EXPECT_EQ(names, (std::vector<std::string>{"encoder.0.weight", "scalar", "empty", "steps", "",
                                             "name with \"quotes\" and ü"}));
  EXPECT_EQ(file.at("").to_vector<float>(), std::vector<float>{4.0f});
  EXPECT_EQ(file.at("encoder.0.weight").shape(), (mech::Shape{2, 3}));
  EXPECT_EQ(file.at("encoder.0.weight").to_vector<float>(), f32);
  EXPECT_EQ(file.at("scalar").shape(), mech::Shape{});
  EXPECT_EQ(file.at("scalar").dtype(), mech::DType::Float64);
  EXPECT_EQ(file.at("scalar").item(), 2.5);
  EXPECT_EQ(file.at("empty").shape(), (mech::Shape{0, 4}));
  EXPECT_EQ(file.at("steps").to_vector<double>(), f64);
  EXPECT_EQ(file.at("name with \"quotes\" and ü").dtype(), mech::DType::Int64);
  EXPECT_EQ(file.at("name with \"quotes\" and ü").to_vector<std::int64_t>(), i64);
  EXPECT_EQ(file.metadata, metadata);
  EXPECT_TRUE(file.contains("steps"));
  EXPECT_FALSE(file.contains("missing"));
}

TEST(Safetensors, EmptyFileHoldsNoTensors) {
  const std::string bytes = mech::save_safetensors_to_bytes({});
  EXPECT_EQ(bytes, std::string("\x08\0\0\0\0\0\0\0{}      ", 16));
  const auto file = mech::load_safetensors_from_bytes(bytes);
  EXPECT_TRUE(file.tensors.empty());
  EXPECT_TRUE(file.metadata.empty());
}

TEST(Safetensors, NonContiguousTensorsAreSavedInLogicalOrder) {
  const mech::Tensor matrix = mech::from_vector(std::vector<double>{0, 1, 2, 3, 4, 5}, {2, 3});
  const auto file = mech::load_safetensors_from_bytes(
      mech::save_safetensors_to_bytes({{"t", matrix.t()}, {"column", matrix.select(1, 1)}}));
  EXPECT_EQ(file.at("t").shape(), (mech::Shape{3, 2}));
  EXPECT_EQ(file.at("t").to_vector<double>(), (std::vector<double>{0, 3, 1, 4, 2, 5}));
  EXPECT_EQ(file.at("column").to_vector<double>(), (std::vector<double>{1, 4}));
}

TEST(Safetensors, AtNamesWhatTheFileHolds) {
  const auto file = mech::load_safetensors_from_bytes(mech::save_safetensors_to_bytes(
      {{"alpha", mech::zeros({1})}, {"beta", mech::zeros({1})}}));
  const std::string message = io_error_of([&] { (void)file.at("gamma"); });
  EXPECT_NE(message.find("'gamma'"), std::string::npos) << message;
  EXPECT_NE(message.find("alpha, beta"), std::string::npos) << message;
}

class SafetensorsFileTest : public mech::io_testing::TemporaryFolderTest {
 protected:
  SafetensorsFileTest() : TemporaryFolderTest("mech_safetensors_") {}
};

TEST_F(SafetensorsFileTest, SaveAndLoadThroughAFileAtomically) {
  const std::string file = path("ckpt.safetensors");
  const std::vector<float> weights = {1, 2, 3, 4};
  mech::save_safetensors(file, {{"w", mech::from_vector(weights, {2, 2})}}, {{"step", "1"}});
  const auto loaded = mech::load_safetensors(file);
  EXPECT_EQ(loaded.at("w").to_vector<float>(), weights);
  EXPECT_EQ(loaded.metadata.at("step"), "1");
  // Saving again replaces the whole file; the directory holds only it (no temporary left).
  mech::save_safetensors(file, {{"b", mech::from_vector(std::vector<double>{9}, {1})}});
  const auto replaced = mech::load_safetensors(file);
  ASSERT_EQ(replaced.tensors.size(), 1u);
  EXPECT_EQ(replaced.at("b").to_vector<double>(), std::vector<double>{9});
  EXPECT_TRUE(replaced.metadata.empty());
  EXPECT_EQ(std::distance(fs::directory_iterator(directory_), fs::directory_iterator()), 1);
}

TEST_F(SafetensorsFileTest, FileErrorsNameTheFile) {
  const std::string missing = path("absent.safetensors");
  std::string message = io_error_of([&] { (void)mech::load_safetensors(missing); });
  EXPECT_NE(message.find(missing), std::string::npos) << message;
  EXPECT_NE(message.find("cannot open"), std::string::npos) << message;

  const std::string truncated = path("truncated.safetensors");
  const std::string good = mech::save_safetensors_to_bytes({{"w", mech::zeros({4})}});
  write(truncated, good.substr(0, good.size() - 4));
  message = io_error_of([&] { (void)mech::load_safetensors(truncated); });
  EXPECT_NE(message.find(truncated), std::string::npos) << message;
  EXPECT_NE(message.find("outside the 12 data bytes"), std::string::npos) << message;

  message = io_error_of([&] { (void)mech::load_safetensors(directory_.string()); });
  EXPECT_NE(message.find("not a regular file"), std::string::npos) << message;
}

TEST_F(SafetensorsFileTest, EveryTruncationIsRefusedFromFileAndFromBytes) {
  // The file reader reads the header, then each tensor straight from its offset; both readers must
  // refuse every prefix of a valid file with the same reason.
  const std::string good = mech::save_safetensors_to_bytes(
      {{"a", mech::from_vector(std::vector<double>{1, 2}, {2})},
       {"b", mech::from_vector(std::vector<std::int64_t>{3}, {})}},
      {{"k", "v"}});
  const std::string file = path("cut.safetensors");
  for (std::size_t length = 0; length < good.size(); ++length) {
    SCOPED_TRACE(length);
    write(file, good.substr(0, length));
    const std::string from_file = io_error_of([&] { (void)mech::load_safetensors(file); });
    const std::string from_bytes =
        io_error_of([&] { (void)mech::load_safetensors_from_bytes(good.substr(0, length), file); });
    EXPECT_EQ(from_file, from_bytes);
  }
}

// ---- files from other writers ------------------------------------------------------------------

TEST(Safetensors, ReadsOtherFormattingKeyOrderAndEscapes) {
  // Pretty-printed, metadata last, keys reordered, names with \u escapes (a surrogate pair for
  // U+1F600), tensors listed in the opposite order of their data.
  const std::string json = "{\n  \"b\\u00e9\\ud83d\\ude00\" : { \"shape\" : [ 1 ] , \"data_offsets\" : "
                           "[ 8 , 16 ], \"dtype\" : \"F64\" },\n  \"a\": {\"data_offsets\": [0, 8], "
                           "\"dtype\": \"I64\", \"shape\": []},\n  \"__metadata__\": {\"x\\ty\": "
                           "\"\\\"\\\\\\/\\b\\f\\n\\r\"}\n}  ";
  const std::string bytes = file_with_header(
      json, raw_bytes(std::vector<std::int64_t>{-3}) + raw_bytes(std::vector<double>{0.25}));
  const auto file = mech::load_safetensors_from_bytes(bytes);
  ASSERT_EQ(file.tensors.size(), 2u);
  EXPECT_EQ(file.tensors[0].first, "a");
  EXPECT_EQ(file.tensors[0].second.to_vector<std::int64_t>(), std::vector<std::int64_t>{-3});
  EXPECT_EQ(file.tensors[1].first, "b\xc3\xa9\xf0\x9f\x98\x80");
  EXPECT_EQ(file.tensors[1].second.to_vector<double>(), std::vector<double>{0.25});
  EXPECT_EQ(file.metadata.at("x\ty"), "\"\\/\b\f\n\r");
}

// ---- errors ------------------------------------------------------------------------------------

TEST(SafetensorsErrors, TooShortForTheLengthPrefix) {
  expect_bytes_error("", "shorter than the 8-byte header length");
  expect_bytes_error(std::string("\x10\0\0", 3), "shorter than the 8-byte header length");
}

TEST(SafetensorsErrors, AbsurdOrWrongHeaderLength) {
  expect_bytes_error(length_prefix(std::uint64_t{1} << 62) + "{}", "exceeds");
  expect_bytes_error(length_prefix(100'000'001) + "{}", "exceeds");
  expect_bytes_error(length_prefix(0), "too small");
  expect_bytes_error(length_prefix(1000) + kOneTensorJson, "truncated");
  // A header length one short cuts the JSON's closing brace off.
  expect_bytes_error(length_prefix(kOneTensorJson.size() - 1) + kOneTensorJson + std::string(8, '\0'),
                     "bad JSON");
  // An .npy file is not a safetensors file.
  expect_bytes_error(std::string("\x93NUMPY\x01\x00v\x00{'descr': '<f8'}", 26), "exceeds");
}

TEST(SafetensorsErrors, TruncatedData) {
  expect_bytes_error(file_with_header(kOneTensorJson, std::string(7, '\0')), "outside the 7 data bytes");
}

TEST(SafetensorsErrors, BadJson) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"{ ", "expected a quoted key"},
      {"{\"w\":", "unexpected end"},
      {"{\"w\" 1}", "expected ':'"},
      {"{\"w\":1,}", "expected a quoted key"},
      {"{'w':1}", "expected a quoted key"},
      {"{\"w\":[1,2}", "expected ',' or ']'"},
      {"{\"w\":{\"a\":1 \"b\":2}}", "expected ',' or '}'"},
      {"{\"w\":tru}", "unexpected character"},
      {"{\"w\":nul}", "unexpected character"},
      {"{\"w\":01}", "expected ',' or '}'"},
      {"{\"w\":1.}", "after '.'"},
      {"{\"w\":1e}", "exponent"},
      {"{\"w\":-}", "expected digits"},
      {"{\"w\":\"abc}", "unterminated string"},
      {"{\"w\":\"a\x01\"}", "control character"},
      {"{\"w\":\"\\x\"}", "unknown escape"},
      {"{\"w\":\"\\u12g4\"}", "bad hex digit"},
      {"{\"w\":\"\\u12\"}", "bad hex digit"},
      {"{\"w\":\"\\ud800\"}", "high surrogate without"},
      {"{\"w\":\"\\ud800\\u0041\"}", "non-low surrogate"},
      {"{\"w\":\"\\udc00\"}", "lone low surrogate"},
      {"{\"w\":@}", "unexpected character '@'"},
      {"{} {}", "after the JSON value"},
      {"{\"a\":1,\"a\":2}", "duplicate key 'a'"},
      {std::string(40, '[') + std::string(40, ']'), "nesting deeper than 32"},
  };
  for (const auto& [json, phrase] : cases) {
    SCOPED_TRACE(json);
    expect_bytes_error(file_with_header(json, ""), phrase);
  }
}

TEST(SafetensorsErrors, WrongHeaderStructure) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"[]", "must be a JSON object, got an array"},
      {R"({"w":3})", "tensor 'w': expected an object, got a number"},
      {R"({"w":{"dtype":"F32","shape":[0]}})", "expected keys"},
      {R"({"w":{"dtype":"F32","shape":[0],"data_offsets":[0,0],"extra":1}})", "unexpected key 'extra'"},
      {R"({"w":{"dtype":32,"shape":[0],"data_offsets":[0,0]}})", "'dtype' must be a string"},
      {R"({"w":{"dtype":"F32","shape":{},"data_offsets":[0,0]}})", "'shape' must be an array"},
      {R"({"w":{"dtype":"F32","shape":[-1],"data_offsets":[0,0]}})", "non-negative integer"},
      {R"({"w":{"dtype":"F32","shape":[1.5],"data_offsets":[0,0]}})", "non-negative integer"},
      {R"({"w":{"dtype":"F32","shape":["2"],"data_offsets":[0,0]}})", "non-negative integer"},
      {R"({"w":{"dtype":"F32","shape":[0],"data_offsets":[0]}})", "[begin, end]"},
      {R"({"w":{"dtype":"F32","shape":[0],"data_offsets":[0,0,0]}})", "[begin, end]"},
      {R"({"w":{"dtype":"F32","shape":[0],"data_offsets":[0,99999999999999999999]}})", "too large"},
      {R"({"__metadata__":[]})", "'__metadata__' must be an object"},
      {R"({"__metadata__":{"step":3}})", "metadata 'step' must be a string"},
  };
  for (const auto& [json, phrase] : cases) {
    SCOPED_TRACE(json);
    expect_bytes_error(file_with_header(json, ""), phrase);
  }
}

TEST(SafetensorsErrors, UnsupportedAndUnknownDtypesAreNamed) {
  expect_bytes_error(file_with_header(R"({"w":{"dtype":"F16","shape":[1],"data_offsets":[0,2]}})",
                                      std::string(2, '\0')),
                     "unsupported dtype 'F16'");
  expect_bytes_error(file_with_header(R"({"w":{"dtype":"BF16","shape":[1],"data_offsets":[0,2]}})",
                                      std::string(2, '\0')),
                     "unsupported dtype 'BF16'");
  expect_bytes_error(file_with_header(R"({"w":{"dtype":"Q7","shape":[1],"data_offsets":[0,2]}})",
                                      std::string(2, '\0')),
                     "unknown dtype 'Q7'");
}

TEST(SafetensorsErrors, SizeMismatchBetweenShapeDtypeAndOffsets) {
  // Two F64 need 16 bytes; the offsets span 8.
  expect_bytes_error(file_with_header(R"({"w":{"dtype":"F64","shape":[2],"data_offsets":[0,8]}})",
                                      std::string(8, '\0')),
                     "needs 16 bytes but data_offsets [0, 8] span 8");
  expect_bytes_error(file_with_header(R"({"w":{"dtype":"F64","shape":[2],"data_offsets":[16,0]}})",
                                      std::string(16, '\0')),
                     "end before they begin");
}

TEST(SafetensorsErrors, OffsetsOutOfRangeOverlappingOrLeavingGaps) {
  const std::string data(16, '\0');
  expect_bytes_error(
      file_with_header(R"({"w":{"dtype":"F64","shape":[1],"data_offsets":[16,24]}})", data),
      "lie outside the 16 data bytes");
  expect_bytes_error(
      file_with_header(R"({"a":{"dtype":"F64","shape":[2],"data_offsets":[0,16]},)"
                       R"("b":{"dtype":"F64","shape":[1],"data_offsets":[8,16]}})",
                       data),
      "overlap the previous tensor");
  expect_bytes_error(
      file_with_header(R"({"a":{"dtype":"F64","shape":[1],"data_offsets":[8,16]}})", data),
      "leave a gap after byte 0");
  expect_bytes_error(
      file_with_header(R"({"a":{"dtype":"F64","shape":[1],"data_offsets":[0,8]}})", data),
      "cover 8 data bytes but the file holds 16");
}

TEST(SafetensorsErrors, AbsurdShapesFailBeforeAnyAllocation) {
  expect_bytes_error(
      file_with_header(R"({"w":{"dtype":"F64","shape":[4294967296,4294967296],"data_offsets":[0,8]}})",
                       std::string(8, '\0')),
      "more elements than can be addressed");
  // An empty tensor whose other sizes multiply past int64 would overflow its strides.
  expect_bytes_error(
      file_with_header(
          R"({"w":{"dtype":"F64","shape":[0,4294967296,4294967296],"data_offsets":[0,0]}})", ""),
      "more elements than can be addressed");
  // 2^40 doubles fit in 64 bits but not in the 8 bytes present.
  expect_bytes_error(
      file_with_header(R"({"w":{"dtype":"F64","shape":[1099511627776],"data_offsets":[0,8796093022208]}})",
                       std::string(8, '\0')),
      "outside the 8 data bytes");
  std::string dims = "1";
  for (int i = 0; i < 64; ++i) dims += ",1";
  expect_bytes_error(
      file_with_header(R"({"w":{"dtype":"F64","shape":[)" + dims + R"(],"data_offsets":[0,8]}})",
                       std::string(8, '\0')),
      "more than 64 dimensions");
}

TEST(SafetensorsErrors, InvalidNamesAreRefusedOnSave) {
  const mech::Tensor x = mech::zeros({1});
  EXPECT_THROW((void)mech::save_safetensors_to_bytes({{"__metadata__", x}}), mech::IoError);
  EXPECT_THROW((void)mech::save_safetensors_to_bytes({{"a", x}, {"a", x}}), mech::IoError);
  EXPECT_THROW((void)mech::save_safetensors_to_bytes({{"a", mech::Tensor()}}), mech::IoError);
}

// ---- fuzzing: seeds must stay valid, kept findings must stay fixed -------------------------------

TEST(SafetensorsFuzz, SeedCorpusFilesAllLoad) {
  mech::io_testing::expect_seeds_load("safetensors", [](const std::string& bytes, const std::string& name) {
    (void)mech::load_safetensors_from_bytes(bytes, name);
  });
}

// tests/fuzz/regressions/safetensors: malformed files (made by hand, one defect each,
// named after it: tests/fuzz/regressions/README.md) and anything tools/fuzz.sh finds.
TEST(SafetensorsFuzz, KeptFindingsLoadOrThrowIoError) {
  mech::io_testing::expect_regressions_load_or_throw_io_error(
      "safetensors", [](const std::string& bytes, const std::string& name) {
        (void)mech::load_safetensors_from_bytes(bytes, name);
      });
}

}  // namespace
