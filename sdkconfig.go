package anonymous

import (
	"reflect"

	"github.com/descope/go-sdk/descope/client"
)

// sdkConfig reads a string field of the Config the client was built with
// (ProjectID, RefreshCookieName). The go-sdk keeps that Config unexported;
// reading it spares every caller from repeating what the client already
// knows. ok is false when the field cannot be read at all (a go-sdk whose
// layout differs from v1.28.0's); an empty value with ok is a field unset.
func sdkConfig(c *client.DescopeClient, field string) (value string, ok bool) {
	defer func() {
		if recover() != nil {
			value, ok = "", false
		}
	}()
	v := reflect.ValueOf(c).Elem().FieldByName("config")
	if !v.IsValid() || v.Kind() != reflect.Pointer || v.IsNil() {
		return "", false
	}
	f := v.Elem().FieldByName(field)
	if !f.IsValid() || f.Kind() != reflect.String {
		return "", false
	}
	return f.String(), true
}
