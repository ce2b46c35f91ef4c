using System.Net;

namespace OspBridge.Osp.Auth;

/// <summary>Settings of <see cref="AuthAttemptLimiter"/>.</summary>
public sealed class AuthAttemptLimiterOptions
{
    /// <summary>Back-off after the first failure; it doubles with each further failure. Default 1 s.</summary>
    public TimeSpan InitialBackoff { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>Largest back-off. Default 60 s.</summary>
    public TimeSpan MaxBackoff { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>Consecutive failures after which a peer is flagged suspicious and the <c>at</c> token should be rotated. Default 5.</summary>
    public int SuspiciousAfter { get; init; } = 5;

    /// <summary>A key with no failure for this long is forgotten. Default 1 hour.</summary>
    public TimeSpan ForgetAfter { get; init; } = TimeSpan.FromHours(1);

    /// <summary>Most keys (fingerprints + addresses) remembered; the stalest are evicted first. Default 4096.</summary>
    public int MaxEntries { get; init; } = 4096;

    /// <summary>The clock (tests pass a fake one).</summary>
    public TimeProvider TimeProvider { get; init; } = TimeProvider.System;
}

/// <summary>A peer flagged by <see cref="AuthAttemptLimiter"/>.</summary>
/// <param name="Key">The fingerprint (<c>fp:…</c>) or remote address (<c>ip:…</c>) that failed.</param>
/// <param name="Failures">Consecutive failures so far.</param>
public sealed record OspSuspiciousPeer(string Key, int Failures);

/// <summary>
/// Brute-force policy for PIN pairing, kept per peer fingerprint AND per remote address (an attacker can make
/// new keys cheaply, a new address less so; a roaming peer keeps its fingerprint). After the n-th consecutive
/// failure the key may try again only after <c>min(InitialBackoff · 2^(n−1), MaxBackoff)</c>: 1, 2, 4, 8, 16, 32,
/// 60, 60 … s with the defaults; an attempt is allowed when both its keys allow it. After
/// <see cref="AuthAttemptLimiterOptions.SuspiciousAfter"/> failures the key is flagged (<see cref="SuspiciousPeer"/>)
/// and <see cref="AuthTokenRotationRequested"/> is set: the advertiser should rotate its <c>at</c> (the identity
/// code owns the rotation; <see cref="AcknowledgeAuthTokenRotation"/> clears the flag). A success clears both keys.
/// Thread-safe; memory bounded by <see cref="AuthAttemptLimiterOptions.MaxEntries"/>.
/// </summary>
public sealed class AuthAttemptLimiter
{
    private readonly AuthAttemptLimiterOptions _options;
    private readonly Dictionary<string, Entry> _entries = new(StringComparer.Ordinal);
    private readonly Lock _lock = new();
    private bool _rotationRequested;

    /// <summary>Creates a limiter.</summary>
    public AuthAttemptLimiter(AuthAttemptLimiterOptions? options = null)
    {
        _options = options ?? new AuthAttemptLimiterOptions();
    }

    /// <summary>Raised (outside the lock) when a key reaches the suspicious threshold, and on every further failure.</summary>
    public event EventHandler<OspSuspiciousPeer>? SuspiciousPeer;

    /// <summary>True when a key became suspicious (reached the threshold) since the last <see cref="AcknowledgeAuthTokenRotation"/>: rotate the <c>at</c> token.</summary>
    public bool AuthTokenRotationRequested
    {
        get
        {
            lock (_lock) return _rotationRequested;
        }
    }

    /// <summary>The back-off after <paramref name="failures"/> consecutive failures (0 for none).</summary>
    public TimeSpan BackoffAfter(int failures)
    {
        if (failures <= 0) return TimeSpan.Zero;
        int shift = Math.Min(failures - 1, 30);
        long ticks = _options.InitialBackoff.Ticks << shift;
        return ticks <= 0 || ticks > _options.MaxBackoff.Ticks ? _options.MaxBackoff : TimeSpan.FromTicks(ticks);
    }

    /// <summary>Whether an attempt from this peer may start now; otherwise how long to wait.</summary>
    /// <param name="fingerprint">The peer's agent fingerprint (null if unknown).</param>
    /// <param name="address">The peer's address (null if unknown; the port is ignored).</param>
    /// <param name="retryAfter">Zero when allowed, else the wait.</param>
    public bool TryBeginAttempt(string? fingerprint, IPAddress? address, out TimeSpan retryAfter)
    {
        DateTimeOffset now = _options.TimeProvider.GetUtcNow();
        retryAfter = TimeSpan.Zero;
        lock (_lock)
        {
            foreach (string key in Keys(fingerprint, address))
            {
                if (_entries.TryGetValue(key, out var e) && e.NotBefore > now && e.NotBefore - now > retryAfter)
                {
                    retryAfter = e.NotBefore - now;
                }
            }
        }

        return retryAfter == TimeSpan.Zero;
    }

    /// <summary>Counts a failed attempt (wrong PIN, bad or missing token, timeout, protocol violation).</summary>
    /// <returns>The back-off now in force for this peer.</returns>
    public TimeSpan RecordFailure(string? fingerprint, IPAddress? address)
    {
        DateTimeOffset now = _options.TimeProvider.GetUtcNow();
        List<OspSuspiciousPeer>? flagged = null;
        TimeSpan longest = TimeSpan.Zero;
        lock (_lock)
        {
            Prune(now);
            foreach (string key in Keys(fingerprint, address))
            {
                if (!_entries.TryGetValue(key, out var e))
                {
                    e = new Entry();
                    _entries[key] = e;
                }
                else if (now - e.LastFailure >= _options.ForgetAfter)
                {
                    e.Failures = 0;
                }

                e.Failures++;
                e.LastFailure = now;
                TimeSpan backoff = BackoffAfter(e.Failures);
                e.NotBefore = now + backoff;
                if (backoff > longest) longest = backoff;
                if (e.Failures >= _options.SuspiciousAfter)
                {
                    // One rotation per episode: when a key becomes suspicious, not on each further failure (which
                    // would let a guesser churn the token and every honest listener's cached TXT at will).
                    if (e.Failures == _options.SuspiciousAfter) _rotationRequested = true;
                    (flagged ??= []).Add(new OspSuspiciousPeer(key, e.Failures));
                }
            }
        }

        if (flagged is not null)
        {
            foreach (var peer in flagged) SuspiciousPeer?.Invoke(this, peer);
        }

        return longest;
    }

    /// <summary>Clears both keys after a successful authentication.</summary>
    public void RecordSuccess(string? fingerprint, IPAddress? address)
    {
        lock (_lock)
        {
            foreach (string key in Keys(fingerprint, address)) _entries.Remove(key);
        }
    }

    /// <summary>Consecutive failures recorded for a fingerprint.</summary>
    public int FailuresOf(string fingerprint)
    {
        lock (_lock) return _entries.TryGetValue(FingerprintKey(fingerprint), out var e) ? e.Failures : 0;
    }

    /// <summary>Consecutive failures recorded for an address.</summary>
    public int FailuresOf(IPAddress address)
    {
        ArgumentNullException.ThrowIfNull(address);
        lock (_lock) return _entries.TryGetValue(AddressKey(address), out var e) ? e.Failures : 0;
    }

    /// <summary>Whether a fingerprint is flagged suspicious.</summary>
    public bool IsSuspicious(string fingerprint) => FailuresOf(fingerprint) >= _options.SuspiciousAfter;

    /// <summary>The identity code rotated the <c>at</c> token: clears <see cref="AuthTokenRotationRequested"/>.</summary>
    public void AcknowledgeAuthTokenRotation()
    {
        lock (_lock) _rotationRequested = false;
    }

    private static string FingerprintKey(string fingerprint) => "fp:" + fingerprint;

    private static string AddressKey(IPAddress address) =>
        "ip:" + (address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address).ToString();

    private static IEnumerable<string> Keys(string? fingerprint, IPAddress? address)
    {
        if (fingerprint is not null) yield return FingerprintKey(fingerprint);
        if (address is not null) yield return AddressKey(address);
    }

    private void Prune(DateTimeOffset now)
    {
        if (_entries.Count < _options.MaxEntries) return;
        foreach (var (key, e) in _entries.ToArray())
        {
            if (now - e.LastFailure >= _options.ForgetAfter) _entries.Remove(key);
        }

        // Still full: evict the stalest quarter (oldest last failure).
        if (_entries.Count >= _options.MaxEntries)
        {
            foreach (var (key, _) in _entries.OrderBy(kv => kv.Value.LastFailure).Take(Math.Max(1, _entries.Count / 4)).ToArray())
            {
                _entries.Remove(key);
            }
        }
    }

    private sealed class Entry
    {
        public int Failures;
        public DateTimeOffset LastFailure;
        public DateTimeOffset NotBefore;
    }
}
