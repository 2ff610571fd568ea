/* fuzzlib.h - what every fuzz harness shares.
 *
 * A harness is one function, LLVMFuzzerTestOneInput, that feeds arbitrary
 * bytes through the same reader the command line uses and frees everything
 * it got back, so that a leak is a finding like a crash. Built with clang's
 * libFuzzer (make fuzz) it is a fuzzer; linked with replay.c (make test) it
 * replays a corpus of saved inputs.
 *
 * Beyond "no crash, no leak" each harness checks what the product promises
 * about bad input: a failure comes with exactly one non-empty line.
 */
#ifndef LD_FUZZLIB_H
#define LD_FUZZLIB_H

#include <stddef.h>
#include <stdint.h>

#include "status.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* The bytes as a file in memory (memfd); writes its path ("/proc/self/fd/N")
 * into path and returns the descriptor, which the caller closes. Aborts
 * when the kernel refuses, since nothing can be tested then. */
int fz_file(const uint8_t *data, size_t size, char *path, size_t path_size);

/* A failed read must explain itself in one line: abort otherwise. With
 * FUZZ_VERBOSE set in the environment the line is printed (to see why a
 * seed is refused). */
void fz_check_error(enum ld_status st, const struct ld_err *err, const char *what);

/* Abort with a message: a property of the reader does not hold. */
void fz_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/* A file of the source tree (LD_SRCDIR/rel), for harnesses that need a
 * fixture such as the demo model's tokenizer. */
const char *fz_source_path(const char *rel);

/* Load the bytes as a tokenizer file (the format is recognised from the
 * contents, as on the command line), then encode, decode and display with
 * what was loaded. Shared by the tokenizer.json and tokenizer.model
 * harnesses, which differ in their seeds and dictionaries. */
void fz_tokenizer_file(const uint8_t *data, size_t size);

/* Open the bytes as a .pth checkpoint; when that succeeds, every tensor
 * must be found by name and its bytes lie inside the mapping. */
void fz_pth_file(const uint8_t *data, size_t size);

#endif
