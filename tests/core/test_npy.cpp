// .npy I/O: byte-exact agreement with what numpy.save writes, round trips of every dtype and of
// empty, scalar and non-contiguous tensors, versions 1.0/2.0/3.0, Fortran-order and big-endian
// files read element by element into C order, and one test per error path.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <iterator>
#include <limits>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "core/error.h"
#include "core/npy.h"
#include "core/tensor.h"
#include "cuda/backend.h"
#include "io_test_util.h"

namespace fs = std::filesystem;

namespace {

using mech::io_testing::io_error_of;
using mech::io_testing::raw_bytes;

// Header bytes as numpy.save writes them (numpy >= 1.23, format.py): the dict keys sorted, the
// shape as Python's tuple repr, 21 - len(str(shape[0])) spaces of growth room, then spaces and a
// newline so the data starts at a multiple of 64. A dict that already ends on the boundary still
// gets 64 spaces.
std::string numpy_header(const std::string& dict, std::size_t header_length) {
  std::string bytes("\x93NUMPY\x01\x00", 8);
  bytes += static_cast<char>(header_length & 0xff);
  bytes += static_cast<char>(header_length >> 8);
  bytes += dict;
  bytes.append(header_length - dict.size() - 1, ' ');
  bytes += '\n';
  return bytes;
}

void expect_bytes_error(const std::string& bytes, const std::string& phrase) {
  const std::string message =
      io_error_of([&] { (void)mech::load_npy_from_bytes(bytes, "bad.npy"); });
  EXPECT_NE(message.find("'bad.npy'"), std::string::npos) << message;
  EXPECT_NE(message.find(phrase), std::string::npos) << "expected '" << phrase << "' in: " << message;
}

// A v1.0 file with an arbitrary dict (padded the numpy way) and payload.
std::string file_with_dict(const std::string& dict, const std::string& payload) {
  const std::size_t unpadded = dict.size() + 1;
  const std::size_t header_length = unpadded + 64 - (10 + unpadded) % 64;
  return numpy_header(dict, header_length) + payload;
}

class NpyFileTest : public mech::io_testing::TemporaryFolderTest {
 protected:
  NpyFileTest() : TemporaryFolderTest("mech_npy_") {}
};

// ---- the bytes numpy writes ----------------------------------------------------------------

TEST(Npy, Float64MatrixMatchesNumpyBytes) {
  // np.save(f, np.arange(6.0).reshape(2, 3)): a 59-character dict + 20 growth spaces + '\n' = 80,
  // 10 + 80 = 90, padded to 128: header length 118 (the 'v\x00' familiar from real files).
  const std::vector<double> values = {0, 1, 2, 3, 4, 5};
  const std::string dict = "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), }";
  ASSERT_EQ(dict.size(), 59u);
  const std::string expected = numpy_header(dict, 118) + raw_bytes(values);
  ASSERT_EQ(expected.substr(8, 2), std::string("v\0", 2));
  const std::string written = mech::save_npy_to_bytes(mech::from_vector(values, {2, 3}));
  EXPECT_EQ(written.size(), 128u + 48u);
  EXPECT_EQ(written, expected);
  EXPECT_EQ(mech::npy_header_bytes(mech::DType::Float64, {2, 3}), expected.substr(0, 128));
}

TEST(Npy, OneDimensionalInt64MatchesNumpyBytes) {
  // np.save(f, np.arange(5)): the 1-tuple repr "(5,)", dict of 57 + 20 growth spaces.
  const std::vector<std::int64_t> values = {0, 1, 2, 3, 4};
  const std::string dict = "{'descr': '<i8', 'fortran_order': False, 'shape': (5,), }";
  ASSERT_EQ(dict.size(), 57u);
  EXPECT_EQ(mech::save_npy_to_bytes(mech::from_vector(values, {5})),
            numpy_header(dict, 118) + raw_bytes(values));
}

TEST(Npy, ScalarFloat32MatchesNumpyBytes) {
  // np.save(f, np.float32(2.5)): shape "()" and no growth room (numpy adds none for 0-d).
  const std::vector<float> values = {2.5f};
  const std::string dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (), }";
  ASSERT_EQ(dict.size(), 55u);
  EXPECT_EQ(mech::save_npy_to_bytes(mech::from_vector(values, {})),
            numpy_header(dict, 118) + raw_bytes(values));
}

TEST(Npy, LongShapeGetsTheNextMultipleOf64) {
  // Shape (100000, 1, ..., 1) with 28 dimensions: the dict is 142 characters, + 15 growth spaces
  // + '\n' = 158, 10 + 158 = 168, padded to 192: header length 182.
  mech::Shape shape(28, 1);
  shape[0] = 100000;
  const std::string header = mech::npy_header_bytes(mech::DType::Float32, shape);
  EXPECT_EQ(header.size(), 192u);
  EXPECT_EQ(header.substr(8, 2), std::string("\xb6\x00", 2));
  EXPECT_EQ(header.back(), '\n');
  const mech::NpyHeader parsed = mech::parse_npy_header(header, "long");
  EXPECT_EQ(parsed.shape, shape);
  EXPECT_EQ(parsed.data_offset, 192u);
}

// ---- round trips -----------------------------------------------------------------------------

template <class T>
void expect_round_trip(const std::vector<T>& values, const mech::Shape& shape) {
  const mech::Tensor original = mech::from_vector(values, shape);
  const mech::Tensor loaded = mech::load_npy_from_bytes(mech::save_npy_to_bytes(original));
  EXPECT_EQ(loaded.dtype(), mech::dtype_of<T>());
  EXPECT_EQ(loaded.shape(), shape);
  // (Empty tensors are left out: Tensor::is_contiguous answers false for some zero-size shapes.)
  if (!values.empty()) {
    EXPECT_TRUE(loaded.is_contiguous());
  }
  EXPECT_EQ(loaded.to_vector<T>(), values);
}

TEST(Npy, RoundTripsEveryDtypeExactly) {
  expect_round_trip<float>({1.5f, -0.0f, std::numeric_limits<float>::denorm_min(),
                            std::numeric_limits<float>::infinity(), 3e38f, -7.25f},
                           {3, 2});
  expect_round_trip<double>({1.0 / 3.0, -1e-300, std::numeric_limits<double>::max(), 0.1},
                            {2, 1, 2});
  expect_round_trip<std::int64_t>({std::numeric_limits<std::int64_t>::min(), -1, 0,
                                   std::numeric_limits<std::int64_t>::max()},
                                  {4});
}

TEST(Npy, RoundTripsScalarsAndEmptyTensors) {
  expect_round_trip<double>({42.0}, {});
  expect_round_trip<float>({}, {0});
  expect_round_trip<double>({}, {3, 0, 2});
  expect_round_trip<std::int64_t>({}, {0, 5});
}

TEST(Npy, NanSurvivesBitForBit) {
  const mech::Tensor original =
      mech::from_vector(std::vector<double>{std::numeric_limits<double>::quiet_NaN()}, {1});
  const auto loaded = mech::load_npy_from_bytes(mech::save_npy_to_bytes(original)).to_vector<double>();
  EXPECT_TRUE(std::isnan(loaded[0]));
}

TEST(Npy, NonContiguousTensorIsSavedInLogicalCOrder) {
  // The transpose of [[0, 1, 2], [3, 4, 5]] is [[0, 3], [1, 4], [2, 5]].
  const mech::Tensor matrix = mech::from_vector(std::vector<float>{0, 1, 2, 3, 4, 5}, {2, 3});
  const mech::Tensor transposed = matrix.t();
  ASSERT_FALSE(transposed.is_contiguous());
  const mech::Tensor loaded = mech::load_npy_from_bytes(mech::save_npy_to_bytes(transposed));
  EXPECT_EQ(loaded.shape(), (mech::Shape{3, 2}));
  EXPECT_EQ(loaded.to_vector<float>(), (std::vector<float>{0, 3, 1, 4, 2, 5}));
  // A strided slice with an offset: every other column of the matrix.
  const mech::Tensor columns = matrix.slice(1, 0, 3, 2);
  EXPECT_EQ(mech::load_npy_from_bytes(mech::save_npy_to_bytes(columns)).to_vector<float>(),
            (std::vector<float>{0, 2, 3, 5}));
}

TEST(Npy, CudaTensorIsCopiedToTheHostForSaving) {
  if (!mech::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  const mech::Tensor host = mech::from_vector(std::vector<float>{0, 1, 2, 3, 4, 5}, {2, 3});
  const mech::Tensor device = host.to(mech::Device::cuda()).t();  // strided on the device too
  const mech::Tensor loaded = mech::load_npy_from_bytes(mech::save_npy_to_bytes(device));
  EXPECT_TRUE(loaded.device().is_cpu());
  EXPECT_EQ(loaded.to_vector<float>(), (std::vector<float>{0, 3, 1, 4, 2, 5}));
}

TEST(Npy, TensorThatRequiresGradIsSavedWithoutRecording) {
  const mech::Tensor weights =
      mech::from_vector(std::vector<double>{1, 2, 3}, {3}, mech::TensorOptions().requires_grad(true));
  EXPECT_EQ(mech::load_npy_from_bytes(mech::save_npy_to_bytes(weights)).to_vector<double>(),
            (std::vector<double>{1, 2, 3}));
}

TEST_F(NpyFileTest, SaveAndLoadThroughAFile) {
  const mech::Tensor original = mech::from_vector(std::vector<double>{1, 2, 3, 4, 5, 6}, {3, 2});
  const std::string file = path("u.npy");
  mech::save_npy(file, original);
  const mech::Tensor loaded = mech::load_npy(file);
  EXPECT_EQ(loaded.shape(), (mech::Shape{3, 2}));
  EXPECT_EQ(loaded.to_vector<double>(), original.to_vector<double>());
  // Saving again replaces the file completely (a smaller array leaves no stale tail).
  mech::save_npy(file, mech::from_vector(std::vector<std::int64_t>{7}, {1}));
  EXPECT_EQ(fs::file_size(file), 128u + 8u);
  EXPECT_EQ(mech::load_npy(file).to_vector<std::int64_t>(), std::vector<std::int64_t>{7});
  EXPECT_EQ(std::distance(fs::directory_iterator(directory_), fs::directory_iterator()), 1);
}

// ---- headers numpy can produce that we did not write -----------------------------------------

TEST(Npy, ReadsVersion2And3Headers) {
  const std::vector<float> values = {1, 2, 3, 4};
  const std::string dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }";
  for (const char major : {'\x02', '\x03'}) {
    // Four-byte length; 12 + dict + '\n' padded to 128 bytes.
    const std::size_t header_length = 128 - 12;
    std::string bytes("\x93NUMPY", 6);
    bytes += major;
    bytes += '\0';
    bytes += std::string(1, static_cast<char>(header_length)) + std::string(3, '\0');
    bytes += dict + std::string(header_length - dict.size() - 1, ' ') + "\n";
    bytes += raw_bytes(values);
    const mech::NpyHeader header = mech::parse_npy_header(bytes, "v2");
    EXPECT_EQ(header.major_version, major);
    EXPECT_EQ(header.data_offset, 128u);
    const mech::Tensor loaded = mech::load_npy_from_bytes(bytes);
    EXPECT_EQ(loaded.shape(), (mech::Shape{2, 2}));
    EXPECT_EQ(loaded.to_vector<float>(), values);
  }
}

TEST(Npy, ReadsOtherSpellingsOfTheDict) {
  const std::vector<double> values = {1, 2};
  // Key order, quote style, spacing and trailing commas vary between writers (older numpy
  // versions wrote 16-byte alignment and no growth room); all are valid Python literals.
  for (const std::string& dict : {
           std::string("{'descr':'<f8','fortran_order':False,'shape':(2,)}"),
           std::string("{\"shape\": (2,), \"fortran_order\": False, \"descr\": \"<f8\"}"),
           std::string("{ 'fortran_order' : False , 'shape' : ( 2 , ) , 'descr' : '<f8' , }"),
           std::string("{'descr': '<f8', 'fortran_order': True, 'shape': (2,), }"),  // 1-D: same bytes
       }) {
    const mech::Tensor loaded = mech::load_npy_from_bytes(file_with_dict(dict, raw_bytes(values)));
    EXPECT_EQ(loaded.to_vector<double>(), values) << dict;
  }
}

// ---- Fortran order and big-endian data, as numpy writes them -------------------------------------

// The bytes np.save writes for an array of this descr, order and shape holding `data` (format 1.0,
// numpy's _write_array_header): keys sorted, the shape as Python's tuple repr, room for the growth
// axis (the first one in C order, the last in Fortran order) to reach 21 digits, then spaces and
// '\n' so the data starts at a multiple of 64.
std::string numpy_file(const std::string& descr, bool fortran_order, const mech::Shape& shape,
                       const std::string& data) {
  std::string shape_text = "(";
  for (std::size_t i = 0; i < shape.size(); ++i) shape_text += (i > 0 ? ", " : "") + std::to_string(shape[i]);
  shape_text += shape.size() == 1 ? ",)" : ")";
  std::string dict = "{'descr': '" + descr + "', 'fortran_order': " + (fortran_order ? "True" : "False") +
                     ", 'shape': " + shape_text + ", }";
  if (!shape.empty()) dict.append(21 - std::to_string(fortran_order ? shape.back() : shape.front()).size(), ' ');
  return file_with_dict(dict, data);
}

// Each element's bytes reversed: what numpy writes for a '>' (big-endian) dtype.
template <class T>
std::string big_endian_bytes(const std::vector<T>& values) {
  std::string bytes = raw_bytes(values);
  for (std::size_t at = 0; at < bytes.size(); at += sizeof(T)) {
    std::reverse(bytes.begin() + static_cast<std::ptrdiff_t>(at),
                 bytes.begin() + static_cast<std::ptrdiff_t>(at + sizeof(T)));
  }
  return bytes;
}

// The elements of a C-order array listed in Fortran order (first index fastest), as numpy writes
// an array whose flags say F_CONTIGUOUS.
template <class T>
std::vector<T> in_fortran_order(const std::vector<T>& c_order, const mech::Shape& shape) {
  std::vector<T> out;
  std::vector<std::int64_t> index(shape.size(), 0);
  for (std::size_t n = 0; n < c_order.size(); ++n) {
    std::int64_t flat = 0;  // the element's position in C order
    for (std::size_t d = 0; d < shape.size(); ++d) flat = flat * shape[d] + index[d];
    out.push_back(c_order[static_cast<std::size_t>(flat)]);
    for (std::size_t d = 0; d < shape.size() && ++index[d] == shape[d]; ++d) index[d] = 0;
  }
  return out;
}

// Loaded element by element equal (bit for bit: -0.0, Inf and denormals included) to `expected`,
// in mech's own layout: contiguous C order, native byte order.
template <class T>
void expect_c_order_elements(const mech::Tensor& loaded, const mech::Shape& shape, const std::vector<T>& expected) {
  ASSERT_EQ(loaded.dtype(), mech::dtype_of<T>());
  ASSERT_EQ(loaded.shape(), shape);
  ASSERT_EQ(loaded.numel(), static_cast<std::int64_t>(expected.size()));
  if (expected.empty()) return;
  EXPECT_TRUE(loaded.is_contiguous());
  const std::vector<T> values = loaded.to_vector<T>();
  for (std::size_t i = 0; i < expected.size(); ++i) {
    EXPECT_EQ(std::memcmp(&values[i], &expected[i], sizeof(T)), 0)
        << "element " << i << ": " << values[i] << ", expected " << expected[i];
  }
}

TEST(NpyLayouts, FortranOrderMatrixOfATransposeIsReadInCOrder) {
  // np.save(f, np.arange(6.0).reshape(2, 3).T): the transpose is F-contiguous, so numpy writes its
  // memory as it is, 0..5, with 'fortran_order': True and shape (3, 2).
  const std::string bytes = numpy_file("<f8", true, {3, 2}, raw_bytes(std::vector<double>{0, 1, 2, 3, 4, 5}));
  ASSERT_EQ(bytes.size(), 128u + 48u);
  expect_c_order_elements<double>(mech::load_npy_from_bytes(bytes), {3, 2}, {0, 3, 1, 4, 2, 5});
}

TEST(NpyLayouts, FortranOrderFloat32MatrixIsReadInCOrder) {
  // np.save(f, np.asfortranarray(np.arange(12, dtype=np.float32).reshape(3, 4))).
  std::vector<float> c_order(12);
  for (std::size_t i = 0; i < c_order.size(); ++i) c_order[i] = 0.5f * static_cast<float>(i) - 1.0f;
  const std::vector<float> fortran = in_fortran_order(c_order, {3, 4});
  ASSERT_EQ(fortran[1], c_order[4]);  // (1, 0) follows (0, 0) in Fortran order
  expect_c_order_elements(mech::load_npy_from_bytes(numpy_file("<f4", true, {3, 4}, raw_bytes(fortran))), {3, 4},
                          c_order);
}

TEST(NpyLayouts, FortranOrderThreeDimensionalArraysAreReadInCOrder) {
  // Element (i, j, k) holds 10000 i + 100 j + k, so any index mix-up shows in the value.
  for (const mech::Shape& shape : {mech::Shape{2, 3, 4}, mech::Shape{2, 3, 10}, mech::Shape{5, 1, 3}}) {
    SCOPED_TRACE(mech::shape_str(shape));
    std::vector<std::int64_t> c_order;
    for (std::int64_t i = 0; i < shape[0]; ++i)
      for (std::int64_t j = 0; j < shape[1]; ++j)
        for (std::int64_t k = 0; k < shape[2]; ++k) c_order.push_back(10000 * i + 100 * j + k);
    const std::string bytes = numpy_file("<i8", true, shape, raw_bytes(in_fortran_order(c_order, shape)));
    expect_c_order_elements(mech::load_npy_from_bytes(bytes), shape, c_order);
    std::vector<double> as_double(c_order.begin(), c_order.end());
    expect_c_order_elements(
        mech::load_npy_from_bytes(numpy_file("<f8", true, shape, raw_bytes(in_fortran_order(as_double, shape)))),
        shape, as_double);
  }
}

TEST(NpyLayouts, EmptyFortranOrderArrayIsReadWithItsShape) {
  expect_c_order_elements<float>(mech::load_npy_from_bytes(numpy_file("<f4", true, {3, 0}, "")), {3, 0}, {});
  expect_c_order_elements<double>(mech::load_npy_from_bytes(numpy_file(">f8", true, {0, 2, 2}, "")), {0, 2, 2}, {});
}

TEST(NpyLayouts, BigEndianFloat64IsReadBitForBit) {
  // np.save(f, a.astype('>f8')): values whose eight bytes all differ, a denormal, -0.0 and Inf.
  const std::vector<double> values = {1.5, -2.25, 1e300, std::numeric_limits<double>::denorm_min(),
                                      -0.0, std::numeric_limits<double>::infinity()};
  const std::string bytes = numpy_file(">f8", false, {2, 3}, big_endian_bytes(values));
  ASSERT_NE(bytes.substr(128), raw_bytes(values));
  expect_c_order_elements(mech::load_npy_from_bytes(bytes), {2, 3}, values);
}

TEST(NpyLayouts, BigEndianFloat32IsReadBitForBit) {
  const std::vector<float> values = {1.5f, -2.25f, 3e38f, std::numeric_limits<float>::denorm_min(), -0.0f,
                                     0.1f, -std::numeric_limits<float>::infinity()};
  expect_c_order_elements(mech::load_npy_from_bytes(numpy_file(">f4", false, {7}, big_endian_bytes(values))), {7},
                          values);
  expect_c_order_elements(mech::load_npy_from_bytes(numpy_file(">f4", false, {}, big_endian_bytes<float>({2.5f}))),
                          {}, std::vector<float>{2.5f});
}

TEST(NpyLayouts, BigEndianInt64IsReadExactly) {
  const std::vector<std::int64_t> values = {std::numeric_limits<std::int64_t>::min(), -1, 0, 0x0102030405060708,
                                            std::numeric_limits<std::int64_t>::max()};
  expect_c_order_elements(mech::load_npy_from_bytes(numpy_file(">i8", false, {5}, big_endian_bytes(values))), {5},
                          values);
}

TEST(NpyLayouts, BigEndianFortranOrderIsReadInCOrder) {
  // np.save(f, np.asfortranarray(a.astype('>f8'))) for a = [[1, 2, 3], [4, 5, 6]] / 8.
  const std::vector<double> c_order = {0.125, 0.25, 0.375, 0.5, 0.625, 0.75};
  const std::string bytes = numpy_file(">f8", true, {2, 3}, big_endian_bytes(in_fortran_order(c_order, {2, 3})));
  expect_c_order_elements(mech::load_npy_from_bytes(bytes), {2, 3}, c_order);
}

TEST(NpyLayouts, WritingAConvertedArrayGivesLittleEndianCOrder) {
  const std::vector<double> c_order = {1, 2, 3, 4, 5, 6};
  const mech::Tensor loaded =
      mech::load_npy_from_bytes(numpy_file(">f8", true, {3, 2}, big_endian_bytes(in_fortran_order(c_order, {3, 2}))));
  EXPECT_EQ(mech::save_npy_to_bytes(loaded), numpy_file("<f8", false, {3, 2}, raw_bytes(c_order)));
}

TEST_F(NpyFileTest, FortranOrderBigEndianFileIsReadAndEveryTruncationRefused) {
  // load_npy reads the data straight from the file: it converts like load_npy_from_bytes, and
  // refuses every prefix with the same reason.
  std::vector<std::int64_t> c_order(24);
  for (std::size_t i = 0; i < c_order.size(); ++i) c_order[i] = static_cast<std::int64_t>(i * i) - 100;
  const std::string good = numpy_file(">i8", true, {2, 3, 4}, big_endian_bytes(in_fortran_order(c_order, {2, 3, 4})));
  const std::string file = path("fortran_big_endian.npy");
  write(file, good);
  expect_c_order_elements(mech::load_npy(file), {2, 3, 4}, c_order);
  for (std::size_t length = 0; length < good.size(); length += 7) {
    SCOPED_TRACE(length);
    write(file, good.substr(0, length));
    const std::string from_file = io_error_of([&] { (void)mech::load_npy(file); });
    EXPECT_EQ(from_file, io_error_of([&] { (void)mech::load_npy_from_bytes(good.substr(0, length), file); }));
    EXPECT_NE(from_file.find(length < 6 ? "magic" : length < 128 ? "truncated header" : "truncated data"),
              std::string::npos)
        << from_file;
  }
}

// ---- errors ------------------------------------------------------------------------------------

TEST_F(NpyFileTest, MissingFileNamesThePath) {
  const std::string file = path("absent.npy");
  const std::string message = io_error_of([&] { (void)mech::load_npy(file); });
  EXPECT_NE(message.find(file), std::string::npos) << message;
  EXPECT_NE(message.find("cannot open"), std::string::npos) << message;
}

TEST_F(NpyFileTest, DirectoryIsNotARegularFile) {
  const std::string message = io_error_of([&] { (void)mech::load_npy(directory_.string()); });
  EXPECT_NE(message.find("not a regular file"), std::string::npos) << message;
}

TEST_F(NpyFileTest, ErrorsFromFilesNameTheFile) {
  const std::string good = mech::save_npy_to_bytes(mech::from_vector(std::vector<float>{1, 2, 3}, {3}));
  const std::string truncated = path("truncated.npy");
  write(truncated, good.substr(0, good.size() - 1));
  std::string message = io_error_of([&] { (void)mech::load_npy(truncated); });
  EXPECT_NE(message.find(truncated), std::string::npos) << message;
  EXPECT_NE(message.find("truncated data"), std::string::npos) << message;

  const std::string short_header = path("short_header.npy");
  write(short_header, good.substr(0, 40));
  message = io_error_of([&] { (void)mech::load_npy(short_header); });
  EXPECT_NE(message.find("truncated header"), std::string::npos) << message;

  const std::string tiny = path("tiny.npy");
  write(tiny, good.substr(0, 3));
  message = io_error_of([&] { (void)mech::load_npy(tiny); });
  EXPECT_NE(message.find("magic"), std::string::npos) << message;

  const std::string empty_file = path("empty.npy");
  write(empty_file, "");
  message = io_error_of([&] { (void)mech::load_npy(empty_file); });
  EXPECT_NE(message.find("magic"), std::string::npos) << message;
}

TEST_F(NpyFileTest, EveryTruncationIsRefusedFromFileAndFromBytes) {
  // The file reader takes a different path (preamble first, then exactly the header, then the data
  // straight into the tensor); both must refuse every prefix of a valid file with the same reason.
  const std::string good =
      mech::save_npy_to_bytes(mech::from_vector(std::vector<double>{1, 2, 3, 4, 5, 6}, {2, 3}));
  const std::string file = path("cut.npy");
  for (std::size_t length = 0; length < good.size(); ++length) {
    SCOPED_TRACE(length);
    write(file, good.substr(0, length));
    const std::string from_file = io_error_of([&] { (void)mech::load_npy(file); });
    const std::string from_bytes =
        io_error_of([&] { (void)mech::load_npy_from_bytes(good.substr(0, length), file); });
    EXPECT_EQ(from_file, from_bytes);
  }
}

TEST(NpyErrors, WrongMagic) {
  std::string bytes = mech::save_npy_to_bytes(mech::from_vector(std::vector<float>{1}, {1}));
  bytes[1] = 'M';
  expect_bytes_error(bytes, "magic");
  expect_bytes_error("PK\x03\x04 this is a zip file", "magic");
}

TEST(NpyErrors, UnsupportedVersion) {
  std::string bytes = mech::save_npy_to_bytes(mech::from_vector(std::vector<float>{1}, {1}));
  bytes[6] = '\x04';
  expect_bytes_error(bytes, "version 4.0");
  bytes[6] = '\x01';
  bytes[7] = '\x01';
  expect_bytes_error(bytes, "version 1.1");
}

TEST(NpyErrors, TruncatedPreambleHeaderAndData) {
  const std::string good = mech::save_npy_to_bytes(mech::from_vector(std::vector<double>{1, 2}, {2}));
  expect_bytes_error(good.substr(0, 7), "truncated header");   // inside the version
  expect_bytes_error(good.substr(0, 9), "truncated header");   // inside the length
  expect_bytes_error(good.substr(0, 100), "truncated header");  // inside the dict
  expect_bytes_error(good.substr(0, good.size() - 3), "truncated data");
  expect_bytes_error(good.substr(0, 128), "truncated data");
}

TEST(NpyErrors, TrailingBytesAreASizeMismatch) {
  const std::string good = mech::save_npy_to_bytes(mech::from_vector(std::vector<double>{1, 2}, {2}));
  expect_bytes_error(good + "x", "size mismatch");
}

TEST(NpyErrors, UnsupportedDtypesAreNamed) {
  for (const std::string descr : {"<i4", ">i4", "<f2", ">f2", "|b1", "<c16", ">c16", "|u1", "=f8"}) {
    expect_bytes_error(
        file_with_dict("{'descr': '" + descr + "', 'fortran_order': False, 'shape': (1,), }", "12345678"),
        "unsupported dtype '" + descr + "'");
  }
  expect_bytes_error(
      file_with_dict("{'descr': [('x', '<f8')], 'fortran_order': False, 'shape': (1,), }", "12345678"),
      "structured dtypes");
}

TEST(NpyErrors, MalformedDicts) {
  const std::string payload(8, '\0');
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"'descr': '<f8', 'fortran_order': False, 'shape': (1,)", "'{'"},
      {"{'descr': '<f8', 'fortran_order': False}", "'shape' is missing"},
      {"{'fortran_order': False, 'shape': (1,)}", "'descr' is missing"},
      {"{'descr': '<f8', 'shape': (1,)}", "'fortran_order' is missing"},
      {"{'descr': '<f8', 'fortran_order': False, 'shape': (1,), 'extra': 1}", "unexpected key 'extra'"},
      {"{'descr': '<f8', 'descr': '<f8', 'fortran_order': False, 'shape': (1,)}", "appears twice"},
      {"{'descr': '<f8', 'fortran_order': false, 'shape': (1,)}", "True or False"},
      {"{'descr': '<f8', 'fortran_order': False, 'shape': (1)}", "trailing comma"},
      {"{'descr': '<f8', 'fortran_order': False, 'shape': [1]}", "'('"},
      {"{'descr': '<f8', 'fortran_order': False, 'shape': (-1,)}", "non-negative integer"},
      {"{'descr': '<f8', 'fortran_order': False, 'shape': (1,), } junk", "after the dict"},
      {"{'descr: '<f8', 'fortran_order': False, 'shape': (1,)}", "malformed header dict"},
      {"{'descr': '<f8' 'fortran_order': False, 'shape': (1,)}", "expected ',' or '}'"},
      {"{'descr': '<f8', 'fortran_order': False, 'shape': (1,", "malformed header dict"},
      {"", "'{'"},
  };
  for (const auto& [dict, phrase] : cases) {
    SCOPED_TRACE(dict);
    expect_bytes_error(file_with_dict(dict, payload), phrase);
  }
}

TEST(NpyErrors, ShapeThatDisagreesWithTheDataSize) {
  // Declares 3 doubles, holds 2.
  expect_bytes_error(file_with_dict("{'descr': '<f8', 'fortran_order': False, 'shape': (3,), }",
                                    std::string(16, '\0')),
                     "truncated data");
}

TEST(NpyErrors, AbsurdSizesFailBeforeAnyAllocation) {
  // 2^40 * 2^40 elements overflow; 2^50 doubles (8 PiB) fit in 64 bits but not in the file. Both
  // must be rejected from the header alone: an allocation attempt would throw bad_alloc instead.
  expect_bytes_error(file_with_dict("{'descr': '<f8', 'fortran_order': False, "
                                    "'shape': (1099511627776, 1099511627776), }",
                                    ""),
                     "more elements than can be addressed");
  expect_bytes_error(file_with_dict("{'descr': '<f8', 'fortran_order': False, "
                                    "'shape': (1125899906842624,), }",
                                    std::string(8, '\0')),
                     "truncated data");
  expect_bytes_error(file_with_dict("{'descr': '<f8', 'fortran_order': False, "
                                    "'shape': (99999999999999999999999,), }",
                                    ""),
                     "absurdly large");
  std::string dims;
  for (int i = 0; i < 65; ++i) dims += "1, ";
  expect_bytes_error(file_with_dict("{'descr': '<f8', 'fortran_order': False, 'shape': (" + dims + "), }",
                                    std::string(8, '\0')),
                     "more than 64 dimensions");
}

TEST(NpyErrors, HeaderLengthBeyondTheLimitOrTheFile) {
  // Version 2.0 with a 4 GiB header length: refused from the 12-byte preamble.
  std::string bytes("\x93NUMPY\x02\x00\xff\xff\xff\xff{}", 14);
  expect_bytes_error(bytes, "exceeds");
  // Version 1.0 declaring 65535 header bytes in a 30-byte file.
  expect_bytes_error(std::string("\x93NUMPY\x01\x00\xff\xff{'descr': '<f8'}", 26), "truncated header");
}

TEST(NpyErrors, UndefinedTensorCannotBeSaved) {
  EXPECT_THROW((void)mech::save_npy_to_bytes(mech::Tensor()), mech::IoError);
}

TEST_F(NpyFileTest, SavingIntoAMissingDirectoryIsAnIoError) {
  const std::string file = path("missing/u.npy");
  const std::string message = io_error_of(
      [&] { mech::save_npy(file, mech::from_vector(std::vector<float>{1}, {1})); });
  EXPECT_NE(message.find(file), std::string::npos) << message;
}

// ---- fuzzing: seeds must stay valid, kept findings must stay fixed -------------------------------

TEST(NpyFuzz, SeedCorpusFilesAllLoad) {
  mech::io_testing::expect_seeds_load(
      "npy", [](const std::string& bytes, const std::string& name) { (void)mech::load_npy_from_bytes(bytes, name); });
}

// tests/fuzz/regressions/npy: malformed files (made by hand, one defect each, named after it:
// tests/fuzz/regressions/README.md) and anything tools/fuzz.sh finds.
TEST(NpyFuzz, KeptFindingsLoadOrThrowIoError) {
  mech::io_testing::expect_regressions_load_or_throw_io_error(
      "npy", [](const std::string& bytes, const std::string& name) { (void)mech::load_npy_from_bytes(bytes, name); });
}

}  // namespace
