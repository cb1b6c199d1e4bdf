/* See config.h. */
#include "core/config.h"

#include "core/error.h"

#include <vmm/version.h>

#include <errno.h>
#include <stdint.h>
#include <string.h>

/* No versioned struct will ever be this large; a bigger struct_size is a
 * garbage value, not a newer caller. */
#define STRUCT_SIZE_MAX 4096

int vmm_config_copy(const void *in, void *out, size_t size, const char *what, const char *init,
                    const char *fn)
{
    uint32_t struct_size;
    memcpy(&struct_size, in, sizeof(struct_size));
    if (struct_size < size)
        return vmm_err(-EINVAL, "%s: %s struct_size %u is smaller than version 1 (%zu); "
                       "initialise it with %s", fn, what, struct_size, size, init);
    if (struct_size > STRUCT_SIZE_MAX)
        return vmm_err(-EINVAL, "%s: %s struct_size %u is implausible", fn, what, struct_size);
    const uint8_t *extra = (const uint8_t *)in + size;
    for (size_t i = 0; i < struct_size - size; i++)
        if (extra[i])
            return vmm_err(-EINVAL, "%s: %s has non-zero fields this library (%s) does not know",
                           fn, what, vmm_version_string());
    memcpy(out, in, size);
    return 0;
}
