package ui

import (
	"encoding/json"
	"errors"
	"net/http"

	"github.com/discordopus/discordopus/chat"
	"github.com/discordopus/discordopus/keystore"
	"github.com/discordopus/discordopus/node"
)

// apiError is an answer the page shows as is: a status, a code for the
// page's logic, and a sentence for a person.
type apiError struct {
	status int
	code   string
	msg    string
}

func (e *apiError) Error() string { return e.msg }

var (
	errLocked   = &apiError{status: http.StatusConflict, code: "locked", msg: "DiscordOpus is locked: unlock it first."}
	errNotFound = &apiError{status: http.StatusNotFound, code: "not_found", msg: "No such API call."}
)

func badRequest(msg string) error {
	return &apiError{status: http.StatusBadRequest, code: "bad_request", msg: msg}
}

// known maps the errors of the packages below to the page's words. The
// first that matches wins.
var known = []struct {
	err error
	api apiError
}{
	{keystore.ErrWrongPassphrase, apiError{422, "wrong_passphrase", "Wrong passphrase. Try again."}},
	{keystore.ErrEmptyPassphrase, apiError{422, "weak_passphrase", "Enter a passphrase."}},
	{keystore.ErrExists, apiError{409, "exists", "This profile already has an identity; it is never overwritten."}},
	{keystore.ErrCorrupt, apiError{500, "corrupt", "The keystore file is damaged. Restore it from a backup; nothing was changed."}},
	{node.ErrAlreadyRunning, apiError{409, "already_running", "DiscordOpus is already running with this profile in another window or terminal."}},
	{node.ErrPortInUse, apiError{409, "port_in_use", "The network port in the settings is taken by another program."}},
	{chat.ErrBadInvite, apiError{422, "bad_invite", "That invite is not valid: check that it was copied whole."}},
	{chat.ErrIdentityChange, apiError{409, "identity_changed", "This contact has a new identity key. Replace it only if you expected them to (a new device or a reinstall)."}},
	{chat.ErrNameTaken, apiError{409, "name_taken", "A contact already has that name."}},
	{chat.ErrBadName, apiError{422, "bad_name", "A name is 1 to 64 characters, without control characters or spaces at either end."}},
	{chat.ErrSelf, apiError{422, "self", "That is your own invite."}},
	{chat.ErrNoIdentityKey, apiError{422, "bad_invite", "That PeerID has no identity key we can use."}},
	{chat.ErrNoContact, apiError{404, "no_contact", "No such contact."}},
	{chat.ErrTooLong, apiError{422, "too_long", "The message is too long (8 KiB at most)."}},
	{chat.ErrEmptyMessage, apiError{422, "empty", "The message is empty."}},
	{chat.ErrNotUTF8, apiError{422, "not_utf8", "The message is not valid text."}},
	{chat.ErrBadEmoji, apiError{422, "bad_emoji", "That is not a reaction emoji."}},
	{chat.ErrBlocked, apiError{409, "blocked", "This contact is blocked."}},
	{chat.ErrNotAccepted, apiError{409, "not_accepted", "Accept the message request first."}},
	{chat.ErrQRMismatch, apiError{422, "qr_mismatch", "The scanned code does not match: this is not the identity you have for this contact."}},
}

// asAPIError finds the page's words for err; anything unknown is an
// internal error whose text still reaches the page.
func asAPIError(err error) *apiError {
	var ae *apiError
	if errors.As(err, &ae) {
		return ae
	}
	for _, k := range known {
		if errors.Is(err, k.err) {
			e := k.api
			return &e
		}
	}
	return &apiError{status: http.StatusInternalServerError, code: "internal", msg: "Something went wrong: " + err.Error()}
}

func writeError(w http.ResponseWriter, err error) {
	e := asAPIError(err)
	writeJSON(w, e.status, map[string]string{"error": e.msg, "code": e.code})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}
