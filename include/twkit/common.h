/*
 * twkit/common.h — visibility and C++ guards shared by every public header.
 *
 * Public names are tw_ / TW_; library-internal non-static names are tw__.
 * Only symbols marked TW_EXTERN are exported from libtwkit.so.
 */
#ifndef TWKIT_COMMON_H
#define TWKIT_COMMON_H

#if defined(TW_BUILDING_LIB) && defined(__GNUC__)
#define TW_EXTERN __attribute__((visibility("default")))
#else
#define TW_EXTERN
#endif

#ifdef __cplusplus
#define TW_BEGIN_DECLS extern "C" {
#define TW_END_DECLS }
#else
#define TW_BEGIN_DECLS
#define TW_END_DECLS
#endif

#endif /* TWKIT_COMMON_H */
