/*
 * Runs a model that `sparcc compile` wrote into a folder, from C.
 *
 *   sparcc compile examples/mlp.py:make_model --example-input "randn(64,512)" -o out
 *   gcc -O2 examples/run_model.c -Iout -Lout -lmodel -Wl,-rpath,"$PWD/out" -o run_model
 *   ./run_model out                          # fixed inputs; prints each output's first values and sum
 *   ./run_model out inputs.bin outputs.bin   # raw inputs in, raw outputs out
 *
 * inputs.bin holds the inputs' bytes one after another (row-major, native
 * byte order, the dtypes and shapes listed in out/model.h); outputs.bin
 * gets the outputs the same way. model.h comes from the folder the program
 * is built against, so build it once per model.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"

static int fail(const char *what) {
  fprintf(stderr, "run_model: %s\n", what);
  return 1;
}

int main(int argc, char **argv) {
  if (argc < 2 || argc > 4) {
    fprintf(stderr, "usage: %s MODEL_FOLDER [INPUTS.bin [OUTPUTS.bin]]\n", argv[0]);
    return 2;
  }
  char path[4096];
  snprintf(path, sizeof path, "%s/weights.safetensors", argv[1]);
  if (sparcc_model_open(path) != 0) return fail(sparcc_model_error());

  void *inputs[SPARCC_MODEL_NUM_INPUTS + 1], *outputs[SPARCC_MODEL_NUM_OUTPUTS];
  FILE *in = argc > 2 ? fopen(argv[2], "rb") : NULL;
  if (argc > 2 && !in) return fail("cannot open the inputs file");
  for (int i = 0; i < SPARCC_MODEL_NUM_INPUTS; i++) {
    size_t bytes = sparcc_model_input_bytes[i];
    inputs[i] = malloc(bytes ? bytes : 1);
    if (in) {
      if (fread(inputs[i], 1, bytes, in) != bytes) return fail("the inputs file is too short");
    } else if (strcmp(sparcc_model_input_dtype[i], "float32") == 0) {
      float *x = inputs[i];
      for (size_t j = 0; j < bytes / sizeof *x; j++) x[j] = (float)((long)(j * 7919 % 2001) - 1000) / 1000.0f;
    } else {
      memset(inputs[i], 0, bytes); /* integer inputs (indices): all 0 */
    }
  }
  if (in) fclose(in);
  for (int i = 0; i < SPARCC_MODEL_NUM_OUTPUTS; i++) outputs[i] = malloc(sparcc_model_output_bytes[i]);

  if (sparcc_model_run(inputs, outputs) != 0) return fail(sparcc_model_error());

  if (argc > 3) {
    FILE *out = fopen(argv[3], "wb");
    if (!out) return fail("cannot open the outputs file");
    for (int i = 0; i < SPARCC_MODEL_NUM_OUTPUTS; i++)
      if (fwrite(outputs[i], 1, sparcc_model_output_bytes[i], out) != sparcc_model_output_bytes[i])
        return fail("could not write the outputs");
    if (fclose(out) != 0) return fail("could not write the outputs");
  } else {
    for (int i = 0; i < SPARCC_MODEL_NUM_OUTPUTS; i++) {
      printf("output %d: %s%s", i, sparcc_model_output_dtype[i], sparcc_model_output_shape[i]);
      if (strcmp(sparcc_model_output_dtype[i], "float32") == 0) {
        const float *y = outputs[i];
        size_t n = sparcc_model_output_bytes[i] / sizeof *y;
        double sum = 0;
        for (size_t j = 0; j < n; j++) sum += y[j];
        for (size_t j = 0; j < n && j < 4; j++) printf(" %.6g", y[j]);
        printf("%s sum=%.6g", n > 4 ? " ..." : "", sum);
      }
      printf("\n");
    }
  }
  for (int i = 0; i < SPARCC_MODEL_NUM_INPUTS; i++) free(inputs[i]);
  for (int i = 0; i < SPARCC_MODEL_NUM_OUTPUTS; i++) free(outputs[i]);
  sparcc_model_close();
  return 0;
}
