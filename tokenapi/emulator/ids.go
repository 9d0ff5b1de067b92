package emulator

import (
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"net/netip"
	"strings"
	"unicode"
)

// valuePrefix starts every generated token value.
const valuePrefix = "cfat_"

// valueAlphabet is the character set of the random body of a token value.
const valueAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

// valueBodyLength is the number of random characters in a token value.
const valueBodyLength = 40

// newID returns 32 random lowercase hex characters. The caller holds e.mu,
// because e.random need not be safe for concurrent use.
func (e *Emulator) newID() (string, error) {
	var b [16]byte
	if _, err := io.ReadFull(e.random, b[:]); err != nil {
		return "", fmt.Errorf("generate id: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}

// newValue returns a fresh token value: "cfat_", 40 random characters from
// valueAlphabet, and the CRC-32 (IEEE) of those 40 characters as 8 lowercase
// hex digits. The caller holds e.mu.
func (e *Emulator) newValue() (string, error) {
	body := make([]byte, 0, valueBodyLength)
	var buf [64]byte
	for len(body) < valueBodyLength {
		if _, err := io.ReadFull(e.random, buf[:]); err != nil {
			return "", fmt.Errorf("generate token value: %w", err)
		}
		for _, b := range buf {
			// Rejection sampling keeps every character equally likely:
			// 248 is the largest multiple of 62 that fits in a byte.
			if b >= 248 || len(body) == valueBodyLength {
				continue
			}
			body = append(body, valueAlphabet[int(b)%len(valueAlphabet)])
		}
	}
	sum := crc32.ChecksumIEEE(body)
	return fmt.Sprintf("%s%s%08x", valuePrefix, body, sum), nil
}

// ValidChecksum reports whether value has the emulator's token value format:
// "cfat_", 40 characters from [A-Za-z0-9] and the CRC-32 of those characters.
func ValidChecksum(value string) bool {
	if len(value) != len(valuePrefix)+valueBodyLength+8 || !strings.HasPrefix(value, valuePrefix) {
		return false
	}
	body := value[len(valuePrefix) : len(valuePrefix)+valueBodyLength]
	for _, r := range body {
		if !strings.ContainsRune(valueAlphabet, r) {
			return false
		}
	}
	want := fmt.Sprintf("%08x", crc32.ChecksumIEEE([]byte(body)))
	return value[len(valuePrefix)+valueBodyLength:] == want
}

// isHexID reports whether s is 32 lowercase hex characters.
func isHexID(s string) bool {
	if len(s) != 32 {
		return false
	}
	for _, r := range s {
		if !strings.ContainsRune("0123456789abcdef", r) {
			return false
		}
	}
	return true
}

// checkSeedValue checks a fixed token value given in a seed: 40 to 80
// printable characters without spaces, as the API's values are.
func checkSeedValue(value string) error {
	if len(value) < 40 || len(value) > 80 {
		return fmt.Errorf("token value has %d characters, want 40 to 80", len(value))
	}
	for _, r := range value {
		if r > unicode.MaxASCII || !unicode.IsPrint(r) || unicode.IsSpace(r) {
			return errors.New("token value contains a space or a non-printable character")
		}
	}
	return nil
}

// checkResources checks that a policy's resources map each key to "*" or to a
// nested map of the same shape.
func checkResources(m map[string]any) error {
	if len(m) == 0 {
		return errors.New("resources are empty")
	}
	for k, v := range m {
		if k == "" {
			return errors.New("resources contain an empty key")
		}
		switch v := v.(type) {
		case string:
			if v != "*" {
				return fmt.Errorf("resource %q maps to %q, want \"*\" or an object", k, v)
			}
		case map[string]any:
			if err := checkResources(v); err != nil {
				return fmt.Errorf("resource %q: %w", k, err)
			}
		default:
			return fmt.Errorf("resource %q maps to a %T, want \"*\" or an object", k, v)
		}
	}
	return nil
}

// checkCIDRs checks every CIDR of a condition.
func checkCIDRs(c *Condition) error {
	for _, list := range [][]string{c.RequestIPIn, c.RequestIPNotIn} {
		for _, cidr := range list {
			if _, err := parseCIDR(cidr); err != nil {
				return err
			}
		}
	}
	return nil
}

// parseCIDR parses a CIDR or a single address, which counts as a /32 or /128.
func parseCIDR(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("invalid CIDR %q: %w", s, err)
		}
		return p.Masked(), nil
	}
	addr, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("invalid CIDR %q: %w", s, err)
	}
	return netip.PrefixFrom(addr, addr.BitLen()), nil
}

// allowsAddress reports whether a request from addr meets the condition.
func (c *Condition) allowsAddress(addr netip.Addr) bool {
	if c == nil {
		return true
	}
	addr = addr.Unmap()
	for _, cidr := range c.RequestIPNotIn {
		if p, err := parseCIDR(cidr); err == nil && p.Contains(addr) {
			return false
		}
	}
	if len(c.RequestIPIn) == 0 {
		return true
	}
	for _, cidr := range c.RequestIPIn {
		if p, err := parseCIDR(cidr); err == nil && p.Contains(addr) {
			return true
		}
	}
	return false
}

// builtinPermissionGroups returns the catalogue every emulator starts with:
// the two API-token groups and a few common account, zone and DNS groups.
//
// NOTE: only the two API-token group ids are confirmed from real listings.
// The other ids are the ones commonly published for those names and were not
// checked against a live account.
func builtinPermissionGroups() []PermissionGroup {
	const accountScope = "com.cloudflare.api.account"
	const zoneScope = "com.cloudflare.api.account.zone"
	return []PermissionGroup{
		{ID: PermissionTokensWrite, Name: "Account API Tokens Write", Scopes: []string{accountScope}},
		{ID: PermissionTokensRead, Name: "Account API Tokens Read", Scopes: []string{accountScope}},
		{ID: "c1fde68c7bcc44588cbb6ddbc16d6480", Name: "Account Settings Read",
			Scopes: []string{accountScope}},
		{ID: "c8fed203ed3043cba015a93ad1616f1f", Name: "Zone Read", Scopes: []string{zoneScope}},
		{ID: "e6d2666161e84845a636613608cee8d5", Name: "Zone Write", Scopes: []string{zoneScope}},
		{ID: "82e64a83756745bbbb1c9c2701bf816b", Name: "DNS Read", Scopes: []string{zoneScope}},
		{ID: "4755a26eedb94da69e1066d98aa820be", Name: "DNS Write", Scopes: []string{zoneScope}},
		{ID: "e17beae8b8cb423a99b1730f21238bed", Name: "Cache Purge", Scopes: []string{zoneScope}},
	}
}
