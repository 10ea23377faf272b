package descopetest

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"unicode/utf8"
)

// A small CBOR (RFC 8949) codec for what WebAuthn puts in CBOR: the
// attestation object, COSE keys and extension maps. Authenticators encode
// these in CTAP2 canonical form (definite lengths, no tags, no floats), so
// the decoder accepts exactly that subset: unsigned and negative integers
// that fit an int64, byte and text strings, arrays, maps keyed by integers
// or text strings (no duplicate keys), false, true and null. Anything else
// is an error, never a panic; lengths are checked against the input before
// anything is allocated, and nesting is limited.

// cborMap is a decoded CBOR map. Its keys are int64 or string.
type cborMap map[any]any

// cborMaxDepth is how deeply arrays and maps may nest.
const cborMaxDepth = 8

// errCBOR is the error of input the decoder refuses.
var errCBOR = errors.New("descopetest: malformed or unsupported CBOR")

// cborDecode decodes the first CBOR item of b and returns it with the bytes
// that follow it. Values are int64, []byte, string, []any, cborMap, bool or
// nil.
func cborDecode(b []byte) (any, []byte, error) {
	d := cborDecoder{b: b}
	v, err := d.item(0)
	if err != nil {
		return nil, nil, err
	}
	return v, d.b[d.off:], nil
}

// cborDecodeAll decodes b, which must hold exactly one CBOR item.
func cborDecodeAll(b []byte) (any, error) {
	v, rest, err := cborDecode(b)
	if err == nil && len(rest) != 0 {
		err = fmt.Errorf("%w: %d bytes after the item", errCBOR, len(rest))
	}
	return v, err
}

// cborDecoder reads CBOR items from b, starting at off.
type cborDecoder struct {
	b   []byte
	off int
}

// left is how many bytes are left to read.
func (d *cborDecoder) left() int { return len(d.b) - d.off }

// head reads an item's initial byte and argument: the major type and the
// value, length or count that follows it.
func (d *cborDecoder) head() (major byte, arg uint64, err error) {
	if d.left() < 1 {
		return 0, 0, fmt.Errorf("%w: unexpected end", errCBOR)
	}
	ib := d.b[d.off]
	d.off++
	major, info := ib>>5, ib&0x1f
	var n int
	switch {
	case info < 24:
		return major, uint64(info), nil
	case info == 24:
		n = 1
	case info == 25:
		n = 2
	case info == 26:
		n = 4
	case info == 27:
		n = 8
	default: // 28-30 reserved, 31 indefinite length
		return 0, 0, fmt.Errorf("%w: additional information %d", errCBOR, info)
	}
	if d.left() < n {
		return 0, 0, fmt.Errorf("%w: unexpected end", errCBOR)
	}
	var buf [8]byte
	copy(buf[8-n:], d.b[d.off:d.off+n])
	d.off += n
	return major, binary.BigEndian.Uint64(buf[:]), nil
}

// item decodes one item at nesting depth.
func (d *cborDecoder) item(depth int) (any, error) {
	if depth > cborMaxDepth {
		return nil, fmt.Errorf("%w: nested too deeply", errCBOR)
	}
	major, arg, err := d.head()
	if err != nil {
		return nil, err
	}
	switch major {
	case 0: // unsigned integer
		if arg > math.MaxInt64 {
			return nil, fmt.Errorf("%w: integer out of range", errCBOR)
		}
		return int64(arg), nil
	case 1: // negative integer, -1 - arg
		if arg > math.MaxInt64 {
			return nil, fmt.Errorf("%w: integer out of range", errCBOR)
		}
		return -1 - int64(arg), nil
	case 2, 3: // byte string, text string
		if arg > uint64(d.left()) {
			return nil, fmt.Errorf("%w: string longer than the input", errCBOR)
		}
		s := d.b[d.off : d.off+int(arg)]
		d.off += int(arg)
		if major == 2 {
			return slices.Clone(s), nil
		}
		if !utf8.Valid(s) {
			return nil, fmt.Errorf("%w: text string is not UTF-8", errCBOR)
		}
		return string(s), nil
	case 4: // array; each item takes at least one byte
		if arg > uint64(d.left()) {
			return nil, fmt.Errorf("%w: array longer than the input", errCBOR)
		}
		out := make([]any, 0, int(arg))
		for range arg {
			v, err := d.item(depth + 1)
			if err != nil {
				return nil, err
			}
			out = append(out, v)
		}
		return out, nil
	case 5: // map; each pair takes at least two bytes
		if arg > uint64(d.left())/2 {
			return nil, fmt.Errorf("%w: map longer than the input", errCBOR)
		}
		out := make(cborMap, int(arg))
		for range arg {
			k, err := d.item(depth + 1)
			if err != nil {
				return nil, err
			}
			switch k.(type) {
			case int64, string:
			default:
				return nil, fmt.Errorf("%w: map key of type %T", errCBOR, k)
			}
			if _, dup := out[k]; dup {
				return nil, fmt.Errorf("%w: duplicate map key %v", errCBOR, k)
			}
			v, err := d.item(depth + 1)
			if err != nil {
				return nil, err
			}
			out[k] = v
		}
		return out, nil
	case 7: // simple values
		switch arg {
		case 20:
			return false, nil
		case 21:
			return true, nil
		case 22:
			return nil, nil
		}
	}
	return nil, fmt.Errorf("%w: major type %d", errCBOR, major)
}

// cborEncode encodes v (int, int64, []byte, string, []any, cborMap, bool or
// nil) in CTAP2 canonical form: shortest heads, map keys sorted by their
// encoding's length, then bytes.
func cborEncode(v any) ([]byte, error) {
	var buf bytes.Buffer
	if err := cborAppend(&buf, v); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// cborAppend encodes v onto buf.
func cborAppend(buf *bytes.Buffer, v any) error {
	switch x := v.(type) {
	case int:
		return cborAppend(buf, int64(x))
	case int64:
		if x >= 0 {
			cborHead(buf, 0, uint64(x))
		} else {
			cborHead(buf, 1, uint64(-1-x))
		}
	case []byte:
		cborHead(buf, 2, uint64(len(x)))
		buf.Write(x)
	case string:
		cborHead(buf, 3, uint64(len(x)))
		buf.WriteString(x)
	case []any:
		cborHead(buf, 4, uint64(len(x)))
		for _, item := range x {
			if err := cborAppend(buf, item); err != nil {
				return err
			}
		}
	case cborMap:
		type pair struct{ k, v []byte }
		pairs := make([]pair, 0, len(x))
		for k, val := range x {
			kb, err := cborEncode(k)
			if err != nil {
				return err
			}
			vb, err := cborEncode(val)
			if err != nil {
				return err
			}
			pairs = append(pairs, pair{kb, vb})
		}
		slices.SortFunc(pairs, func(a, b pair) int {
			if len(a.k) != len(b.k) {
				return len(a.k) - len(b.k)
			}
			return bytes.Compare(a.k, b.k)
		})
		cborHead(buf, 5, uint64(len(pairs)))
		for _, p := range pairs {
			buf.Write(p.k)
			buf.Write(p.v)
		}
	case bool:
		if x {
			buf.WriteByte(0xf5)
		} else {
			buf.WriteByte(0xf4)
		}
	case nil:
		buf.WriteByte(0xf6)
	default:
		return fmt.Errorf("descopetest: cannot encode %T as CBOR", v)
	}
	return nil
}

// cborHead writes an item's initial byte and argument in the shortest form.
func cborHead(buf *bytes.Buffer, major byte, arg uint64) {
	m := major << 5
	switch {
	case arg < 24:
		buf.WriteByte(m | byte(arg))
	case arg <= math.MaxUint8:
		buf.Write([]byte{m | 24, byte(arg)})
	case arg <= math.MaxUint16:
		buf.WriteByte(m | 25)
		buf.Write(binary.BigEndian.AppendUint16(nil, uint16(arg)))
	case arg <= math.MaxUint32:
		buf.WriteByte(m | 26)
		buf.Write(binary.BigEndian.AppendUint32(nil, uint32(arg)))
	default:
		buf.WriteByte(m | 27)
		buf.Write(binary.BigEndian.AppendUint64(nil, arg))
	}
}
