/*
 * libFuzzer target: the YAML config loader and monitord.yaml's walker on
 * arbitrary bytes.  Every input must give a document (with or without
 * errors), never a crash.
 */
#include "config.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "cfg.h"
#include "log.h"
#include "monitord.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char path[] = "/tmp/fuzz_cfg.XXXXXX";
	static int fd = -1;
	struct cfg_doc *doc;
	struct mon_conf *conf;

	log_init("fuzz", 0, LOG_LEVEL_ERROR);
	/* The tree builder on its own. */
	doc = cfg_load_string("f.yaml", (const char *)data, size, NULL);
	cfg_free(doc);
	/* And monitord's whole loader, which streams a file. */
	if (fd == -1 && (fd = mkstemp(path)) == -1)
		abort();
	if (ftruncate(fd, 0) == -1 ||
	    pwrite(fd, data, size, 0) != (ssize_t)size)
		abort();
	conf = conf_load(path, &doc);
	conf_free(conf);
	cfg_free(doc);
	return 0;
}
