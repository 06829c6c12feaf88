//go:build !desktop

package main

import "context"

// openWindow has no window to open in a build without the desktop tag.
func openWindow(context.Context, string) error { return errNoWindow }
