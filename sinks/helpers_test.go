package sinks

import "fmt"

// fmtAll prints v with every verb that could reveal a field.
func fmtAll(v any) string {
	return fmt.Sprintf("%v %+v %#v %s", v, v, v, v)
}
