// notary-judge reads Notary root files the way the stock Notary client does and
// prints what it read, as JSON on standard output. It is built against the Notary
// source Debian ships (the same source as the Debian `notary` client), so its
// verdict is the client's own: Notary's JSON decoder (case-insensitive field
// matching, last one wins), its root structure checks, and trustpinning.ValidateRoot
// (certificate CN and expiry, key IDs from re-encoded certificates, thresholds).
//
// Usage: notary-judge GUN FILE...
//   The files are a chain: the first is trusted on first use, each later one must
//   validate against the one before it, as the client walks root versions.
package main

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io/ioutil"
	"os"
	"sort"
	"time"

	canonical "github.com/docker/go/canonical/json"
	"github.com/sirupsen/logrus"
	"github.com/theupdateframework/notary/trustpinning"
	"github.com/theupdateframework/notary/tuf/data"
)

type keyView struct {
	Keytype string `json:"keytype"`
	Public  string `json:"public"`
}

type roleView struct {
	Keyids    []string `json:"keyids"`
	Threshold int      `json:"threshold"`
}

type sigView struct {
	Keyid  string `json:"keyid"`
	Method string `json:"method"`
	Sig    string `json:"sig"`
}

type rootView struct {
	File               string              `json:"file"`
	Type               string              `json:"type"`
	Version            int                 `json:"version"`
	Expires            string              `json:"expires"`
	ConsistentSnapshot bool                `json:"consistent_snapshot"`
	Keys               map[string]keyView  `json:"keys"`
	Roles              map[string]roleView `json:"roles"`
	Signatures         []sigView           `json:"signatures"`
	Valid              []string            `json:"valid"`
}

type verdict struct {
	Accepted bool       `json:"accepted"`
	Error    string     `json:"error,omitempty"`
	Roots    []rootView `json:"roots"`
}

func view(file string, r *data.SignedRoot) rootView {
	v := rootView{
		File:               file,
		Type:               r.Signed.Type,
		Version:            r.Signed.Version,
		Expires:            r.Signed.Expires.Format(time.RFC3339Nano),
		ConsistentSnapshot: r.Signed.ConsistentSnapshot,
		Keys:               map[string]keyView{},
		Roles:              map[string]roleView{},
		Valid:              []string{},
	}
	for id, k := range r.Signed.Keys {
		v.Keys[id] = keyView{Keytype: k.Algorithm(), Public: base64.StdEncoding.EncodeToString(k.Public())}
	}
	for name, role := range r.Signed.Roles {
		ids := role.KeyIDs
		if ids == nil {
			ids = []string{}
		}
		v.Roles[name.String()] = roleView{Keyids: ids, Threshold: role.Threshold}
	}
	for _, s := range r.Signatures {
		v.Signatures = append(v.Signatures, sigView{
			Keyid: s.KeyID, Method: s.Method.String(), Sig: base64.StdEncoding.EncodeToString(s.Signature)})
		if s.IsValid {
			v.Valid = append(v.Valid, s.KeyID)
		}
	}
	sort.Strings(v.Valid)
	return v
}

func main() {
	logrus.SetLevel(logrus.PanicLevel)
	if len(os.Args) < 3 {
		fmt.Fprintln(os.Stderr, "usage: notary-judge GUN FILE...")
		os.Exit(2)
	}
	gun := data.GUN(os.Args[1])
	out := verdict{Roots: []rootView{}}
	var prev *data.SignedRoot
	for _, file := range os.Args[2:] {
		raw, err := ioutil.ReadFile(file)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		signed := &data.Signed{}
		// The client's own decoder (tuf/client and storage read files this way).
		if err := canonical.Unmarshal(raw, signed); err != nil {
			out.Error = fmt.Sprintf("%s: %v", file, err)
			break
		}
		root, err := trustpinning.ValidateRoot(prev, signed, gun, trustpinning.TrustPinConfig{})
		if err != nil {
			out.Error = fmt.Sprintf("%s: %v", file, err)
			break
		}
		out.Roots = append(out.Roots, view(file, root))
		prev = root
	}
	out.Accepted = out.Error == ""
	enc := json.NewEncoder(os.Stdout)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(out); err != nil {
		os.Exit(2)
	}
}
