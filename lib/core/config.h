/* Versioned structs from callers (the public headers: they start with
 * uint32_t struct_size and only ever grow at the end). */
#ifndef VMM_LIB_CORE_CONFIG_H
#define VMM_LIB_CORE_CONFIG_H

#include <stddef.h>

/* Copies the caller's struct at @in into @out (@size bytes, this library's
 * version), whatever version the caller was compiled against: a
 * struct_size below @size is refused (this is version 1 of every struct so
 * far), as is an implausible one, and a newer caller's extra bytes must be
 * zero because this library cannot honour them. @what names the struct
 * ("config"), @init its initialiser ("VMM_BOOT_CONFIG_INIT"), @fn the
 * public function. Returns 0 or -EINVAL with a sentence. */
int vmm_config_copy(const void *in, void *out, size_t size, const char *what, const char *init,
                    const char *fn);

#endif
