package mask

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/sha256"
	"encoding/binary"
)

// permuter holds the keyed permutations that pseudonyms are built from.
//
// Two constructions are used, both bijective by construction, so two
// originals can never share a pseudonym:
//
//   - feistel: an alternating Feistel network over a vector of positions,
//     each with its own radix (hex digit, decimal digit, letter, …). It keeps
//     the length and the character class of every position, which is what
//     "same shape" means for IDs, keys and names.
//   - prefixBits: a prefix-preserving permutation of a bit string (the
//     Crypto-PAn idea): output bit i depends only on input bits 0..i, so two
//     addresses that share a prefix keep sharing a prefix of the same length.
//
// The round function is AES-256 used as a PRF in CBC-MAC mode over a
// length-prefixed, hence prefix-free, encoding.
type permuter struct {
	block cipher.Block
}

const feistelRounds = 10

func newPermuter(seed []byte) *permuter {
	k := sha256.Sum256(append([]byte("claude-secure pseudonym v1\x00"), seed...))
	b, err := aes.NewCipher(k[:])
	if err != nil {
		panic(err) // a 32-byte key is always valid
	}
	return &permuter{block: b}
}

// mac computes a CBC-MAC over tweak, a domain byte and msg. The first block
// holds the lengths, which makes the encoding prefix-free.
func (p *permuter) mac(tweak string, domain byte, round int, msg []byte) [16]byte {
	var x [16]byte
	binary.BigEndian.PutUint32(x[0:4], uint32(len(tweak)))
	binary.BigEndian.PutUint32(x[4:8], uint32(len(msg)))
	x[8] = domain
	binary.BigEndian.PutUint32(x[9:13], uint32(round))
	p.block.Encrypt(x[:], x[:])
	absorb := func(b []byte) {
		for len(b) > 0 {
			n := 0
			for n < 16 && len(b) > 0 {
				x[n] ^= b[0]
				b = b[1:]
				n++
			}
			p.block.Encrypt(x[:], x[:])
		}
	}
	absorb([]byte(tweak))
	absorb(msg)
	return x
}

// stream fills out with PRF output derived from seed.
func (p *permuter) stream(seed [16]byte, out []uint16) {
	var ctr, blk [16]byte
	for i := 0; i < len(out); i += 8 {
		ctr = seed
		binary.BigEndian.PutUint32(ctr[12:], binary.BigEndian.Uint32(ctr[12:])^uint32(i/8+1))
		p.block.Encrypt(blk[:], ctr[:])
		for j := 0; j < 8 && i+j < len(out); j++ {
			out[i+j] = binary.BigEndian.Uint16(blk[2*j:])
		}
	}
}

// feistel permutes v in place; v[i] < radix[i]. inverse undoes it.
func (p *permuter) feistel(tweak string, v []uint8, radix []uint8, inverse bool) {
	n := len(v)
	if n == 0 {
		return
	}
	h := n / 2
	var rnd [256]uint16
	add := make([]uint16, 0, 64)
	apply := func(r int) {
		var dst, src []uint8
		var rad []uint8
		if r%2 == 0 {
			dst, src, rad = v[h:], v[:h], radix[h:]
		} else {
			dst, src, rad = v[:h], v[h:], radix[:h]
		}
		if len(dst) == 0 {
			return
		}
		seed := p.mac(tweak, 'F', r, src)
		var buf []uint16
		if len(dst) <= len(rnd) {
			buf = rnd[:len(dst)]
		} else {
			add = append(add[:0], make([]uint16, len(dst))...)
			buf = add
		}
		p.stream(seed, buf)
		for i := range dst {
			m := uint16(rad[i])
			d := buf[i] % m
			if inverse {
				dst[i] = uint8((uint16(dst[i]) + m - d) % m)
			} else {
				dst[i] = uint8((uint16(dst[i]) + d) % m)
			}
		}
	}
	if inverse {
		for r := feistelRounds - 1; r >= 0; r-- {
			apply(r)
		}
		return
	}
	for r := 0; r < feistelRounds; r++ {
		apply(r)
	}
}

// prefixBits applies a prefix-preserving permutation to the first n bits
// of x (most significant first), leaving the first fixed bits unchanged.
// width is the total number of bits in x (32 or 128, as big-endian bytes).
func (p *permuter) prefixBits(tweak string, x []byte, fixed, n int, inverse bool) {
	in := make([]byte, len(x))
	copy(in, x)
	prefix := make([]byte, len(x)+2)
	for i := fixed; i < n; i++ {
		// The PRF sees the original prefix bits 0..i-1. When inverting, those
		// are recovered progressively in x itself.
		var src []byte
		if inverse {
			src = x
		} else {
			src = in
		}
		for j := range prefix {
			prefix[j] = 0
		}
		copyBits(prefix, src, i)
		binary.BigEndian.PutUint16(prefix[len(x):], uint16(i))
		m := p.mac(tweak, 'P', i, prefix)
		bit := m[0] >> 7
		byteIdx, shift := i/8, 7-uint(i%8)
		x[byteIdx] ^= bit << shift
	}
}

// copyBits copies the first n bits of src into dst.
func copyBits(dst, src []byte, n int) {
	full := n / 8
	copy(dst, src[:full])
	if rem := n % 8; rem != 0 {
		dst[full] = src[full] & (0xff << (8 - uint(rem)))
	}
}
