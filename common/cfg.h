/*
 * The YAML config loader: libyaml events become a small tree of nodes that
 * remember their file position; typed getters walk it into plain structs and
 * collect every error as "file:line:column: message".
 */
#ifndef COMMON_CFG_H
#define COMMON_CFG_H

#include <stddef.h>
#include <stdint.h>

enum cfg_type { CFG_SCALAR, CFG_MAP, CFG_SEQ };

/* One YAML node.  A map keeps its keys and values in two parallel arrays. */
struct cfg_node {
	enum cfg_type type;
	unsigned line; /* 1-based */
	unsigned col; /* 1-based */
	char *value; /* scalar text */
	int plain; /* scalar was not quoted (so "~" or "" means null) */
	size_t n;
	struct cfg_node **keys; /* map only */
	struct cfg_node **items;
	int borrowed; /* made by cfg_merge: keys and items are others' */
	size_t start, end; /* a scalar's extent in the text, in characters */
};

/* A loaded document and the errors found so far. */
struct cfg_doc {
	char *file;
	struct cfg_node *root;
	char **errors;
	size_t nerrors;
	char **hook_errors; /* while parsing: what hooks found */
	size_t nhook_errors;
	unsigned mode; /* the file's permission bits; 0: not a file */
	char *secret; /* the first credential found, for cfg_check_secrets */
	unsigned secret_line, secret_col;
	size_t *redact; /* start, end pairs of scalars to blank: cfg_redact */
	size_t nredact;
};

/* readable_secrets: what a credential in a file others can read gets. */
enum cfg_secrets { CFG_SECRETS_REFUSE, CFG_SECRETS_WARN };
extern const char *const cfg_secrets_names[];

/* Takes each item of one top-level sequence as soon as it is parsed. */
struct cfg_hook {
	const char *key;
	void (*cb)(struct cfg_doc *, const struct cfg_node *, void *);
	void *arg;
};

/* cfg.c */
struct cfg_doc *cfg_load_file(const char *, const struct cfg_hook *);
struct cfg_doc *
cfg_load_string(const char *, const char *, size_t, const struct cfg_hook *);
void cfg_free(struct cfg_doc *);
void cfg_error(struct cfg_doc *, const struct cfg_node *, const char *, ...)
    __attribute__((format(printf, 3, 4)));
int cfg_is_null(const struct cfg_node *);
const char *cfg_type_str(const struct cfg_node *);

int cfg_expect_map(struct cfg_doc *, const struct cfg_node *, const char *);
int cfg_check_keys(struct cfg_doc *, const struct cfg_node *, const char *,
    const char *const[]);
const struct cfg_node *cfg_get(const struct cfg_node *, const char *);
int cfg_str(struct cfg_doc *, const struct cfg_node *, const char *, int,
    const char **);
int cfg_uint(struct cfg_doc *, const struct cfg_node *, const char *, int,
    uint64_t, uint64_t, uint64_t *);
int cfg_double(struct cfg_doc *, const struct cfg_node *, const char *, int,
    double, double, double *);
int
cfg_bool(struct cfg_doc *, const struct cfg_node *, const char *, int, int *);
int cfg_duration(struct cfg_doc *, const struct cfg_node *, const char *, int,
    uint64_t, uint64_t, uint64_t *);
int cfg_enum(struct cfg_doc *, const struct cfg_node *, const char *, int,
    const char *const[], int *);
const struct cfg_node *
cfg_seq(struct cfg_doc *, const struct cfg_node *, const char *, int);
const struct cfg_node *
cfg_map(struct cfg_doc *, const struct cfg_node *, const char *, int);
int cfg_node_str(struct cfg_doc *, const struct cfg_node *, const char *,
    const char **);
void cfg_timezone(struct cfg_doc *, const struct cfg_node *, const char *);
void cfg_str_list(struct cfg_doc *, const struct cfg_node *, const char *,
    char ***, size_t *);
int cfg_parse_duration(const char *, uint64_t *);
void cfg_sort_errors(struct cfg_doc *);
struct cfg_node *
cfg_merge(const struct cfg_node *const[], const char *const *const[], size_t);
void cfg_merged_free(struct cfg_node *);
int cfg_check_conninfo(struct cfg_doc *, const struct cfg_node *, const char *);
void cfg_secret(struct cfg_doc *, const struct cfg_node *, const char *);
void cfg_redact(struct cfg_doc *, const struct cfg_node *);
struct cfg_doc *cfg_load_file_text(const char *, char **, size_t *);
char *cfg_redacted(const struct cfg_doc *, const char *, size_t, size_t *);
int cfg_check_secrets(struct cfg_doc *, const struct cfg_node *);

#endif
