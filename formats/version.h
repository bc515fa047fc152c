/*
 * podflame's version: what `podflame --version` prints and what the
 * profiles it writes name as their producer.
 */
#ifndef PODFLAME_VERSION_H
#define PODFLAME_VERSION_H

#define PODFLAME_VERSION "0.1.0"

#endif
