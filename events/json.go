package events

import (
	"bytes"
	"encoding/json"
)

// jsonMarshal encodes v without escaping <, > and &, which jsonb would store
// unescaped anyway.
func jsonMarshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	encoder := json.NewEncoder(&buf)
	encoder.SetEscapeHTML(false)
	if err := encoder.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimRight(buf.Bytes(), "\n"), nil
}
