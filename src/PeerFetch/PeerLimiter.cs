using System.Collections.Concurrent;

namespace OspBridge.PeerFetch;

/// <summary>Per-peer admission: concurrent requests and a token-bucket rate, keyed by the peer identity string.</summary>
internal sealed class PeerLimiter(PeerFetchDeviceOptions options, TimeProvider time)
{
    private readonly ConcurrentDictionary<string, Entry> _peers = new(StringComparer.Ordinal);

    public enum Verdict { Admitted, TooManyConcurrent, RateLimited }

    public Verdict TryEnter(string peer)
    {
        var e = _peers.GetOrAdd(peer, _ => new Entry { Tokens = options.RequestBurstPerPeer, Last = time.GetTimestamp() });
        lock (e)
        {
            if (options.RequestsPerSecondPerPeer > 0)
            {
                long now = time.GetTimestamp();
                e.Tokens = Math.Min(options.RequestBurstPerPeer, e.Tokens + (time.GetElapsedTime(e.Last, now).TotalSeconds * options.RequestsPerSecondPerPeer));
                e.Last = now;
                if (e.Tokens < 1) return Verdict.RateLimited;
            }
            if (e.Active >= options.MaxConcurrentRequestsPerPeer) return Verdict.TooManyConcurrent;
            if (options.RequestsPerSecondPerPeer > 0) e.Tokens -= 1;
            e.Active++;
            return Verdict.Admitted;
        }
    }

    public void Exit(string peer)
    {
        if (_peers.TryGetValue(peer, out var e)) lock (e) e.Active--;
    }

    public int Active(string peer) => _peers.TryGetValue(peer, out var e) ? e.Active : 0;

    private sealed class Entry
    {
        public double Tokens;
        public long Last;
        public int Active;
    }
}
