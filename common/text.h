/*
 * Text from devices and servers, made safe to store and to show.
 */
#ifndef COMMON_TEXT_H
#define COMMON_TEXT_H

#include <stddef.h>

/* text.c */
size_t text_utf8_len(const unsigned char *, size_t);
void text_clean(char *);
void text_clean_lines(char *);

#endif
