// Package imaging owns every picture The Button shows: the timer card
// (static PNG or animated GIF; the deadline card and the real countdown
// GIF the bot posts), the end-of-game picture and the statistics
// charts (player, game, timeline).
//
// It is pure: plain structs in, encoded image bytes out. It knows nothing of
// Discord, Redis, NATS or the event log, and it must not import any other
// package of this module (not even events) except timefmt, the one
// formatting of times for players, itself standard-library only; it imports
// only the standard library, github.com/fogleman/gg, golang.org/x/image
// (fonts) and gonum.org/v1/plot. It keeps its own copy of the six colour bands of
// GAME-RULES §4 ([Band], [BandColor]) so that callers never redefine them.
//
// All artwork is drawn in code and all text uses the embedded Go fonts, so
// the package needs no files at run time.
//
// Rendering functions are safe for concurrent use. [Renderer] adds a bounded
// cache keyed by what is visible on a timer card, so an unchanged card is
// rendered and encoded once.
package imaging
