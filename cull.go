package anonymous

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/descope/go-sdk/descope"
	"github.com/descope/go-sdk/descope/client"
)

// CullOptions configures [Cull]. The zero value culls the "Anonymous Users"
// tenant with its configured refresh lifetime.
type CullOptions struct {
	// TenantName names the anonymous tenant. Defaults to "Anonymous Users".
	TenantName string
	// TenantID selects the anonymous tenant by ID instead of by name.
	TenantID string
	// OlderThan is the age past which an anonymous user is stale. Defaults
	// to the refresh-token lifetime in the tenant's session settings: by then
	// the user's refresh token has expired and nobody can sign in as it.
	OlderThan time.Duration
	// BatchSize is the number of users per search page. Defaults to 100,
	// which is also the most: Descope's default search limit, and no larger
	// page is documented. Each stale user of a page is then loaded again and
	// deleted on its own.
	BatchSize int
	// DryRun reports what would be deleted without deleting anything.
	DryRun bool
	// IsGenerated tells generated login IDs from chosen ones. Defaults to
	// IsGeneratedLoginID; set it when the middleware uses
	// WithLoginIDGenerator.
	IsGenerated func(string) bool
	// Progress, when set, is called after every page with the report so far.
	Progress func(CullReport)
	// SearchesPerMinute caps the searches Cull makes, and DeletesPerMinute
	// the calls it makes per stale user, the load right before each delete
	// and the delete counted together (two per user deleted), below
	// Descope's limits (200 searches and 500 other user calls a minute).
	// Default to 150 and 400: at most 200 users deleted a minute.
	SearchesPerMinute, DeletesPerMinute int
	// Store, when set, is the store the middleware shares between its
	// replicas ([WithStore]), with the same key prefix: Cull then holds the
	// conversion lock of each user (the one [Middleware.FinishConversion]
	// takes) from its last check to its delete, so that no conversion by the
	// middleware can run in between. A user whose conversion holds the lock
	// is kept this run; a conversion that finds the lock held by Cull answers
	// ErrConversionInProgress, and finds the user gone once Cull deleted it.
	// A store that fails stops the run. Defaults to none: the last check
	// alone guards each delete (see Cull).
	Store Store
	// MaxRetries bounds the retries of one call after a 429 (honouring
	// Retry-After) or a transient failure. Defaults to 5.
	MaxRetries int
	// Now is the clock the age cutoff is measured on (pacing runs on the
	// wall clock). Defaults to time.Now.
	Now func() time.Time
	// Logger receives progress and retry messages. Defaults to discarding.
	Logger *slog.Logger
	// Observer, when set, is called with Cull's events: each call to
	// Descope, EventCullProgress after every page and EventCullFinished
	// (see WithObserver).
	Observer func(context.Context, Event)

	// pace is the clock the pacing reads: the wall clock, not Now, which
	// only sets the cutoff. Tests set it with sleep (export_test.go).
	pace func() time.Time
	// sleep waits d, or until ctx is done and returns its error: the retry
	// waits and the pacing. Defaults to a timer; tests set it (export_test.go).
	sleep func(ctx context.Context, d time.Duration) error
}

// CullReport says what [Cull] did.
type CullReport struct {
	TenantID    string             `json:"tenantId"`
	Cutoff      time.Time          `json:"cutoff"`
	DryRun      bool               `json:"dryRun"`
	Scanned     int                `json:"scanned"`
	Deleted     int                `json:"deleted"`
	Skipped     map[SkipReason]int `json:"skipped"`
	Failed      int                `json:"failed"`
	SearchCalls int                `json:"searchCalls"`
	LoadCalls   int                `json:"loadCalls"`
	DeleteCalls int                `json:"deleteCalls"`
	Retries     int                `json:"retries"`
	Duration    time.Duration      `json:"durationNs"`
}

// SkipReason says why [Cull] kept a user it scanned.
type SkipReason string

// Reasons a scanned user is kept.
const (
	SkipNotInTenant   SkipReason = "not in anonymous tenant"
	SkipTooRecent     SkipReason = "created after cutoff"
	SkipVerified      SkipReason = "verified email or phone"
	SkipHasAddress    SkipReason = "has email or phone"
	SkipChosenLoginID SkipReason = "login ID not generated"
	SkipCredentials   SkipReason = "has credentials"
	SkipOtherTenant   SkipReason = "member of another tenant"
	SkipChanged       SkipReason = "changed since the search"
	SkipConverting    SkipReason = "conversion in progress"
	SkipGone          SkipReason = "gone before its delete"
)

// Cull deletes anonymous users that never converted and are older than the
// anonymous lifetime. It deletes only users that are members of the
// anonymous tenant and of no other, have no email or phone (verified or
// not), no credentials and only generated login IDs: a converted user is
// never touched, even one whose move out of the tenant failed half-way.
//
// Descope has no conditional delete, so a user judged stale from a search
// page is loaded again right before its delete, and deleted only if it is
// still stale and nothing about it changed since the search: its login IDs,
// tenants, status and creation time. The pacing waits before that load, so
// the load and the delete follow each other at once; with
// [CullOptions.Store], the user's conversion lock is held from the load to
// the delete, so no conversion by the middleware can run in between. What
// remains is a conversion that does not take that lock (one by the
// application's own flow, or by a middleware that fell back to local state
// while its store was down) and whose code Descope verifies between the
// load and the delete, one round trip: the user is deleted, and the
// conversion fails at its next call to Descope, which needs the user
// ([Middleware.FinishConversion] makes at least two more: leaving the
// tenant and signing in). It reports success for a deleted user only if all
// of them fit in that round trip.
//
// It streams the tenant's users a page at a time (memory does not grow with
// their number), honours ctx between users, paces its calls under Descope's
// rate limits and retries 429s after Retry-After. Each deleted user costs
// two calls beside its share of a search: the load and the delete. Two
// replicas running it at once do no harm: a user deleted twice is simply
// gone. The report is returned with the error when the run stops early.
func Cull(ctx context.Context, c *client.DescopeClient, opts CullOptions) (*CullReport, error) {
	if c == nil || c.Management == nil {
		return nil, errors.New("anonymous: nil Descope client")
	}
	k, err := newCuller(c, opts)
	if err != nil {
		return nil, err
	}
	report, err := k.run(ctx)
	k.obs.emit(ctx, Event{Kind: EventCullFinished, Cull: report, Err: err})
	return report, err
}

type culler struct {
	c        *client.DescopeClient
	o        CullOptions
	report   CullReport
	searches *pacer
	deletes  *pacer
	obs      *observer
}

// maxCullBatch is the largest search page [Cull] uses.
const maxCullBatch = 100

func newCuller(c *client.DescopeClient, o CullOptions) (*culler, error) {
	if o.TenantName == "" && o.TenantID == "" {
		o.TenantName = "Anonymous Users"
	}
	if o.BatchSize == 0 {
		o.BatchSize = 100
	}
	if o.BatchSize < 1 || o.BatchSize > maxCullBatch {
		return nil, fmt.Errorf("anonymous: batch size %d out of 1..%d", o.BatchSize, maxCullBatch)
	}
	if o.OlderThan < 0 {
		return nil, fmt.Errorf("anonymous: negative age %v", o.OlderThan)
	}
	if o.IsGenerated == nil {
		o.IsGenerated = IsGeneratedLoginID
	}
	if o.SearchesPerMinute == 0 {
		o.SearchesPerMinute = 150
	}
	if o.DeletesPerMinute == 0 {
		o.DeletesPerMinute = 400
	}
	if o.MaxRetries == 0 {
		o.MaxRetries = 5
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.pace == nil {
		o.pace = time.Now
	}
	if o.sleep == nil {
		o.sleep = timerSleep
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return &culler{
		c: c, o: o,
		report:   CullReport{DryRun: o.DryRun, Skipped: map[SkipReason]int{}},
		searches: newPacer(o.SearchesPerMinute, time.Minute, o.pace, o.sleep),
		deletes:  newPacer(o.DeletesPerMinute, time.Minute, o.pace, o.sleep),
		obs:      &observer{fn: o.Observer, now: o.Now},
	}, nil
}

// run culls the tenant a page at a time: each page is searched from the
// cursor, its stale users deleted, the cursor advanced past it, and the
// progress reported.
func (k *culler) run(ctx context.Context) (*CullReport, error) {
	start := time.Now()
	defer func() { k.report.Duration = time.Since(start) }()
	tenantID, err := k.begin(ctx)
	if err != nil {
		return &k.report, err
	}
	cutoffMs := k.report.Cutoff.UnixMilli()
	var at cullCursor
	for {
		if err := ctx.Err(); err != nil {
			return &k.report, err
		}
		users, err := k.page(ctx, tenantID, at, cutoffMs)
		if err != nil {
			return &k.report, err
		}
		if len(users) == 0 {
			return &k.report, nil
		}
		deleted := k.report.Deleted
		remains, err := k.cull(ctx, users, tenantID, cutoffMs)
		if err != nil {
			return &k.report, err
		}
		at = at.advance(users, remains)
		k.obs.progress(ctx, k.report.Deleted-deleted, k.snapshot)
		if k.o.Progress != nil {
			k.o.Progress(k.snapshot())
		}
	}
}

// begin resolves the anonymous tenant and sets the report's tenant and
// cutoff: OlderThan ago, or the tenant's refresh lifetime ago.
func (k *culler) begin(ctx context.Context) (tenantID string, err error) {
	var tenant resolvedTenant
	err = k.retry(ctx, func() (err error) {
		tenant, err = resolveTenant(ctx, k.c, tenantSpec{id: k.o.TenantID, name: k.o.TenantName, obs: k.obs})
		return err
	})
	if err != nil {
		return "", err
	}
	age := k.o.OlderThan
	if age == 0 {
		age = tenant.lifetime
	}
	if age <= 0 {
		return "", fmt.Errorf("anonymous: tenant %s has no session settings: set OlderThan", tenant.id)
	}
	k.report.TenantID = tenant.id
	k.report.Cutoff = k.o.Now().Add(-age).Truncate(time.Second)
	return tenant.id, nil
}

// cullCursor is where the next page starts. Pages are read by creation time
// (keyset paging), never by offset over the whole set being deleted from:
// each search starts at the creation second of the last user seen. Users of
// that second that stay in the results (kept, failed, or all of them in a
// dry run) are skipped by an offset within that second alone.
type cullCursor struct {
	second int64 // creation second of the last user seen; 0 before the first page
	stay   int   // users created in that second that remain in the results
}

// advance moves the cursor past a page of users, of which remains says which
// stay in the results.
func (c cullCursor) advance(users []*descope.UserResponse, remains map[string]bool) cullCursor {
	if last := int64(users[len(users)-1].CreatedTime); last != c.second {
		c = cullCursor{second: last}
	}
	for _, u := range users {
		if int64(u.CreatedTime) == c.second && remains[u.UserID] {
			c.stay++
		}
	}
	return c
}

// page searches the next page of the tenant's users created before the
// cutoff, from the cursor on; it returns none when the scan is done.
func (k *culler) page(ctx context.Context, tenantID string, at cullCursor, cutoffMs int64) ([]*descope.UserResponse, error) {
	page := at.stay / k.o.BatchSize
	var users []*descope.UserResponse
	err := k.retry(ctx, func() (err error) {
		if err = k.searches.wait(ctx); err != nil {
			return err
		}
		k.report.SearchCalls++
		users, err = observe(k.obs, ctx, "user.search", func(ctx context.Context) ([]*descope.UserResponse, error) {
			users, _, err := k.c.Management.User().SearchAll(ctx, &descope.UserSearchOptions{
				TenantIDs:       []string{tenantID},
				FromCreatedTime: at.second * 1000,
				ToCreatedTime:   cutoffMs,
				Sort:            []descope.UserSearchSort{{Field: "createdTime"}},
				Limit:           int32(k.o.BatchSize),
				Page:            int32(page),
			})
			return users, err
		})
		return err
	})
	if err != nil {
		return nil, during("search users", err)
	}
	if skip := at.stay - page*k.o.BatchSize; skip < len(users) {
		return users[skip:], nil
	}
	return nil, nil
}

// cull judges a page of users and deletes the stale ones (in a dry run, only
// counts them). It returns which users stay in the search results: those
// kept, those whose delete failed, and in a dry run all of them. It fails
// only when ctx ends or the store fails; a failed delete is counted and
// logged.
func (k *culler) cull(ctx context.Context, users []*descope.UserResponse, tenantID string, cutoffMs int64) (map[string]bool, error) {
	remains := make(map[string]bool, len(users))
	for _, u := range users {
		k.report.Scanned++
		if reason := k.judge(u, tenantID, cutoffMs); reason != "" {
			k.report.Skipped[reason]++
			remains[u.UserID] = true
			continue
		}
		if k.o.DryRun {
			k.report.Deleted++ // would be deleted
			remains[u.UserID] = true
			continue
		}
		gone, err := k.cullOne(ctx, u, tenantID, cutoffMs)
		if err != nil {
			return nil, err
		}
		remains[u.UserID] = !gone
	}
	return remains, nil
}

// Bounds of the last check and delete of one user.
const (
	// cullCallTimeout bounds the load and the delete, the SDK's own
	// retries of a 503 included.
	cullCallTimeout = 15 * time.Second
	// cullLockTTL is how long Cull's hold on a conversion lock lasts: past
	// a load and a delete that both took all of cullCallTimeout.
	cullLockTTL = time.Minute
	// cullStoreTimeout bounds each call to the store.
	cullStoreTimeout = 2 * time.Second
)

// errCullStore means the store of [CullOptions.Store] failed: the run stops,
// since no user can be deleted under its conversion lock.
var errCullStore = errors.New("anonymous: store unavailable for the conversion locks")

// cullOne deletes u, which the search found stale, if it still is: paced
// first, then under its conversion lock (with a store), loaded again,
// checked against what the search found (recheck) and deleted at once. It
// reports whether u left the search results (deleted, or gone already). It
// fails only when ctx ends or the store fails; a delete that failed is
// counted and logged.
func (k *culler) cullOne(ctx context.Context, u *descope.UserResponse, tenantID string, cutoffMs int64) (gone bool, err error) {
	var (
		kept     SkipReason
		sent     bool // a delete was sent: a user gone on a retry is gone by it
		storeErr error
	)
	err = k.retry(ctx, func() error {
		kept, gone = "", false
		// Both calls are paced here, so that nothing waits between the
		// check and the delete.
		for range 2 {
			if err := k.deletes.wait(ctx); err != nil {
				return err
			}
		}
		unlock, held, err := k.lock(ctx, u.UserID)
		if err != nil {
			storeErr = err
			return nil
		}
		if held {
			kept = SkipConverting
			return nil
		}
		defer unlock()
		now, err := k.load(ctx, u.UserID)
		switch {
		case isUserNotFound(err):
			gone = true
			if !sent {
				kept = SkipGone
			}
			return nil
		case err != nil:
			return err
		}
		if kept = k.recheck(u, now, tenantID, cutoffMs); kept != "" {
			return nil
		}
		sent = true
		if err := k.deleteOne(ctx, u.UserID); err != nil {
			return err
		}
		gone = true
		return nil
	})
	switch {
	case storeErr != nil:
		return false, storeErr
	case err != nil && ctx.Err() != nil:
		return false, ctx.Err()
	case err != nil:
		k.report.Failed++
		k.o.Logger.Warn("delete failed", "user", u.UserID, "err", err)
		return false, nil
	case kept != "":
		k.report.Skipped[kept]++
	default:
		k.report.Deleted++
	}
	return gone, nil
}

// lock takes the conversion lock of userID in [CullOptions.Store], if set:
// held reports that a conversion holds it. unlock releases it, unless
// Cull's hold has lapsed since (the lock may be another's by then).
func (k *culler) lock(ctx context.Context, userID string) (unlock func(), held bool, err error) {
	if k.o.Store == nil {
		return func() {}, false, nil
	}
	key := conversionLockKey(userID)
	sctx, cancel := context.WithTimeout(ctx, cullStoreTimeout)
	ok, err := k.o.Store.SetNX(sctx, key, []byte("cull"), cullLockTTL)
	cancel()
	if err != nil {
		return nil, false, fmt.Errorf("%w: %w", errCullStore, err)
	}
	if !ok {
		return nil, true, nil
	}
	at := k.o.pace()
	return func() {
		if k.o.pace().Sub(at) >= cullLockTTL {
			return
		}
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cullStoreTimeout)
		_ = k.o.Store.Del(dctx, key)
		cancel()
	}, false, nil
}

// load reads userID as Descope holds it now.
func (k *culler) load(ctx context.Context, userID string) (*descope.UserResponse, error) {
	ctx, cancel := context.WithTimeout(ctx, cullCallTimeout)
	defer cancel()
	k.report.LoadCalls++
	return observe(k.obs, ctx, "user.load", func(ctx context.Context) (*descope.UserResponse, error) {
		return k.c.Management.User().Load(ctx, userID)
	})
}

// deleteOne deletes the user of ID userID (by user ID, never by login ID).
func (k *culler) deleteOne(ctx context.Context, userID string) error {
	ctx, cancel := context.WithTimeout(ctx, cullCallTimeout)
	defer cancel()
	k.report.DeleteCalls++
	_, err := observe(k.obs, ctx, "user.delete_batch", func(ctx context.Context) (struct{}, error) {
		return struct{}{}, k.c.Management.User().DeleteBatch(ctx, []string{userID})
	})
	return err
}

// recheck judges a user as loaded right before its delete (now) against the
// same user as the search found it (then): SkipChanged unless it is still
// stale and its ID, login IDs, tenants, status and creation time are all as
// they were.
func (k *culler) recheck(then, now *descope.UserResponse, tenantID string, cutoffMs int64) SkipReason {
	if now == nil || now.UserID != then.UserID || k.judge(now, tenantID, cutoffMs) != "" ||
		now.Status != then.Status || now.CreatedTime != then.CreatedTime ||
		!sameSet(now.LoginIDs, then.LoginIDs) || !sameSet(tenantIDs(now), tenantIDs(then)) {
		return SkipChanged
	}
	return ""
}

// tenantIDs lists the tenants u is a member of.
func tenantIDs(u *descope.UserResponse) []string {
	ids := make([]string, 0, len(u.UserTenants))
	for _, t := range u.UserTenants {
		if t != nil {
			ids = append(ids, t.TenantID)
		}
	}
	return ids
}

// sameSet reports whether a and b hold the same strings, in any order.
func sameSet(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

// judge returns why u must be kept, or "" when it is a stale anonymous user.
// A member of any tenant beside the anonymous one is not anonymous.
func (k *culler) judge(u *descope.UserResponse, tenantID string, cutoffMs int64) SkipReason {
	switch {
	case !slices.ContainsFunc(u.UserTenants, func(t *descope.UserResponseAssociatedTenant) bool { return t != nil && t.TenantID == tenantID }):
		return SkipNotInTenant
	case len(u.UserTenants) != 1:
		return SkipOtherTenant
	case int64(u.CreatedTime)*1000 > cutoffMs:
		return SkipTooRecent
	case u.VerifiedEmail || u.VerifiedPhone:
		return SkipVerified
	case u.Email != "" || u.Phone != "":
		return SkipHasAddress
	case len(u.LoginIDs) == 0 || !all(u.LoginIDs, k.o.IsGenerated):
		return SkipChosenLoginID
	case u.Password || u.WebAuthn || u.TOTP || u.SAML || u.SCIM || hasOAuth(u.OAuth):
		return SkipCredentials
	}
	return ""
}

// hasOAuth reports whether a user's oauth map names a provider it is linked
// to: Descope lists providers with false too.
func hasOAuth(m map[string]bool) bool {
	for _, linked := range m {
		if linked {
			return true
		}
	}
	return false
}

func all(ids []string, ok func(string) bool) bool {
	for _, id := range ids {
		if !ok(id) {
			return false
		}
	}
	return true
}

func (k *culler) snapshot() CullReport {
	r := k.report
	r.Skipped = make(map[SkipReason]int, len(k.report.Skipped))
	for key, v := range k.report.Skipped {
		r.Skipped[key] = v
	}
	return r
}

// retry runs call until it succeeds, fails for good, or MaxRetries retries
// are spent: after a 429 it waits Retry-After (default 10 s, at most a
// minute), after a transient failure an exponential backoff from 200 ms.
func (k *culler) retry(ctx context.Context, call func() error) error {
	backoff := 200 * time.Millisecond
	for attempt := 0; ; attempt++ {
		err := call()
		if err == nil || !isTransient(err) || ctx.Err() != nil || attempt >= k.o.MaxRetries {
			if err != nil && ctx.Err() == nil && isTransient(err) {
				err = wrap(ErrUnavailable, err)
			}
			return err
		}
		wait := backoff
		backoff *= 2
		if descope.IsError(err, descope.ErrRateLimitExceeded.Code) {
			wait = retryAfter(err, 10*time.Second)
			wait = min(wait, time.Minute)
		}
		k.report.Retries++
		k.o.Logger.Info("retrying after transient failure", "wait", wait, "err", err)
		if err := k.o.sleep(ctx, wait); err != nil {
			return err
		}
	}
}

// timerSleep waits d, or until ctx is done and returns its error.
func timerSleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// pacer allows at most n calls in any sliding period of the clock now,
// waiting with sleep.
type pacer struct {
	n      int
	period time.Duration
	now    func() time.Time
	sleep  func(context.Context, time.Duration) error
	mu     sync.Mutex
	times  []time.Time // ring of the last n call times
	next   int
}

func newPacer(n int, period time.Duration, now func() time.Time, sleep func(context.Context, time.Duration) error) *pacer {
	if n <= 0 {
		return nil
	}
	return &pacer{n: n, period: period, now: now, sleep: sleep, times: make([]time.Time, 0, n)}
}

func (p *pacer) wait(ctx context.Context) error {
	if p == nil {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.now()
	if len(p.times) < p.n {
		p.times = append(p.times, now)
		return nil
	}
	oldest := p.times[p.next]
	if d := p.period - now.Sub(oldest); d > 0 {
		if err := p.sleep(ctx, d); err != nil {
			return err
		}
	}
	p.times[p.next] = p.now()
	p.next = (p.next + 1) % p.n
	return nil
}
