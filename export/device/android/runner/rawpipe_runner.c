// rawpipe_runner: run one signature of a .tflite on one raw input file, write the raw output.
//
//   rawpipe_runner MODEL.tflite SIGNATURE INPUT.bin OUTPUT.bin [THREADS=4] [REPEATS=10]
//
// The input file holds the signature's single input tensor exactly as the graph wants it (int8
// NHWC for rawpipe's int8 export: the host quantised it); the output file receives the single
// output tensor's bytes (int8). Prints `latency_ms_median=<ms>` (median over REPEATS invokes after
// one warm-up) — parsed by rawpipe.export.device.parse_runner_latency.
//
// Uses only the stable LiteRT/TFLite C API (tensorflow/lite/c/c_api.h, signature runners).
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tensorflow/lite/c/c_api.h"

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int cmp_double(const void* a, const void* b) {
  double x = *(const double*)a, y = *(const double*)b;
  return (x > y) - (x < y);
}

static void* read_file(const char* path, size_t* size) {
  FILE* f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  void* buf = malloc((size_t)n);
  if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) { free(buf); buf = NULL; }
  fclose(f);
  *size = (size_t)n;
  return buf;
}

int main(int argc, char** argv) {
  if (argc < 5) {
    fprintf(stderr, "usage: %s MODEL SIGNATURE INPUT.bin OUTPUT.bin [THREADS] [REPEATS]\n", argv[0]);
    return 2;
  }
  const int threads = argc > 5 ? atoi(argv[5]) : 4;
  const int repeats = argc > 6 ? atoi(argv[6]) : 10;

  TfLiteModel* model = TfLiteModelCreateFromFile(argv[1]);
  if (!model) { fprintf(stderr, "cannot load %s\n", argv[1]); return 1; }
  TfLiteInterpreterOptions* opts = TfLiteInterpreterOptionsCreate();
  TfLiteInterpreterOptionsSetNumThreads(opts, threads);
  TfLiteInterpreter* interp = TfLiteInterpreterCreate(model, opts);
  if (!interp) { fprintf(stderr, "cannot create the interpreter\n"); return 1; }
  TfLiteSignatureRunner* runner = TfLiteInterpreterGetSignatureRunner(interp, argv[2]);
  if (!runner) { fprintf(stderr, "no signature %s\n", argv[2]); return 1; }
  if (TfLiteSignatureRunnerAllocateTensors(runner) != kTfLiteOk) return 1;
  if (TfLiteSignatureRunnerGetInputCount(runner) != 1 ||
      TfLiteSignatureRunnerGetOutputCount(runner) != 1) {
    fprintf(stderr, "expected one input and one output\n");
    return 1;
  }
  TfLiteTensor* in = TfLiteSignatureRunnerGetInputTensor(
      runner, TfLiteSignatureRunnerGetInputName(runner, 0));
  size_t in_size = 0;
  void* in_buf = read_file(argv[3], &in_size);
  if (!in_buf || in_size != TfLiteTensorByteSize(in)) {
    fprintf(stderr, "input %s: %zu bytes, the graph wants %zu\n", argv[3], in_size,
            TfLiteTensorByteSize(in));
    return 1;
  }
  if (TfLiteTensorCopyFromBuffer(in, in_buf, in_size) != kTfLiteOk) return 1;

  double* ms = calloc((size_t)(repeats > 0 ? repeats : 1), sizeof(double));
  if (TfLiteSignatureRunnerInvoke(runner) != kTfLiteOk) return 1;  // warm-up
  for (int i = 0; i < repeats; ++i) {
    double t0 = now_ms();
    if (TfLiteSignatureRunnerInvoke(runner) != kTfLiteOk) return 1;
    ms[i] = now_ms() - t0;
  }
  qsort(ms, (size_t)repeats, sizeof(double), cmp_double);

  const TfLiteTensor* out = TfLiteSignatureRunnerGetOutputTensor(
      runner, TfLiteSignatureRunnerGetOutputName(runner, 0));
  size_t out_size = TfLiteTensorByteSize(out);
  void* out_buf = malloc(out_size);
  if (TfLiteTensorCopyToBuffer(out, out_buf, out_size) != kTfLiteOk) return 1;
  FILE* f = fopen(argv[4], "wb");
  if (!f || fwrite(out_buf, 1, out_size, f) != out_size) { fprintf(stderr, "cannot write %s\n", argv[4]); return 1; }
  fclose(f);
  printf("latency_ms_median=%.3f\n", repeats > 0 ? ms[repeats / 2] : 0.0);

  free(out_buf); free(ms); free(in_buf);
  TfLiteSignatureRunnerDelete(runner);
  TfLiteInterpreterDelete(interp);
  TfLiteInterpreterOptionsDelete(opts);
  TfLiteModelDelete(model);
  return 0;
}
