using System.Text;
using OspBridge.WebRtc;

namespace OspBridge.Bridge.Server;

/// <summary>
/// A browser's offer on its way to a device: LAN signaling is non-trickle (each description carries its
/// candidates), browsers trickle. The offer waits for the candidates that follow it — until the client signals
/// end-of-candidates, or <see cref="QuietPeriod"/> passes without a new one once some arrived, at most
/// <see cref="MaxWait"/> — and <see cref="BuildSdp"/> writes them into their m-sections as <c>a=candidate</c> lines.
/// Candidates arriving after that are dropped (the device has already answered).
/// </summary>
internal sealed class TrickleOffer
{
    /// <summary>Most candidates kept per offer.</summary>
    public const int MaxCandidates = 64;

    /// <summary>Longest candidate line accepted.</summary>
    public const int MaxCandidateLength = 1024;

    /// <summary>Longest SDP accepted (Chromium's offers are a few KiB).</summary>
    public const int MaxSdpLength = 128 * 1024;

    /// <summary>How long after the last candidate the offer is considered complete.</summary>
    public static readonly TimeSpan QuietPeriod = TimeSpan.FromMilliseconds(400);

    /// <summary>Longest wait for candidates.</summary>
    public static readonly TimeSpan MaxWait = TimeSpan.FromSeconds(2);

    private readonly Lock _gate = new();
    private readonly List<(string Candidate, string? Mid, int? Index)> _candidates = [];
    private readonly TaskCompletionSource _end = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private TaskCompletionSource _more = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private bool _sealed;

    private TrickleOffer(string sdp) => Sdp = sdp;

    /// <summary>The offer as received.</summary>
    public string Sdp { get; }

    /// <summary>Validates an offer's SDP (length and syntax); the message says what is wrong.</summary>
    public static bool TryCreate(string? sdp, out TrickleOffer? offer, out string? error)
    {
        offer = null;
        if (string.IsNullOrEmpty(sdp)) { error = "no sdp"; return false; }
        if (sdp.Length > MaxSdpLength) { error = $"sdp longer than {MaxSdpLength / 1024} KiB"; return false; }
        try
        {
            OspBridge.WebRtc.Sdp.SessionDescription.Parse(sdp);
        }
        catch (WebRtcException ex)
        {
            error = "bad sdp: " + ex.Message;
            return false;
        }
        error = null;
        offer = new TrickleOffer(sdp);
        return true;
    }

    /// <summary>
    /// Adds a trickled candidate (<c>candidate:…</c>, optionally prefixed <c>a=</c>); null or empty means end-of-candidates.
    /// False (and nothing kept) for a malformed candidate or once the offer went out.
    /// </summary>
    public bool AddCandidate(string? candidate, string? mid, int? index)
    {
        if (string.IsNullOrEmpty(candidate))
        {
            _end.TrySetResult();
            return true;
        }
        if (candidate.StartsWith("a=", StringComparison.Ordinal)) candidate = candidate[2..];
        if (!candidate.StartsWith("candidate:", StringComparison.Ordinal) || candidate.Length > MaxCandidateLength || candidate.Any(c => c is '\r' or '\n' or '\0'))
            return false;
        if (mid is { Length: > 64 } || (mid is not null && mid.Any(c => c is '\r' or '\n' or '\0'))) return false;
        TaskCompletionSource more;
        lock (_gate)
        {
            if (_sealed || _candidates.Count >= MaxCandidates) return false;
            _candidates.Add((candidate, mid, index));
            more = _more;
            _more = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        }
        more.TrySetResult();
        return true;
    }

    /// <summary>Number of candidates kept.</summary>
    public int CandidateCount
    {
        get { lock (_gate) return _candidates.Count; }
    }

    /// <summary>Waits for the candidates as described on the class, then seals the offer.</summary>
    public async Task WaitForCandidatesAsync(TimeProvider time, CancellationToken cancellationToken)
    {
        using var max = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        max.CancelAfter(MaxWait);
        try
        {
            while (!_end.Task.IsCompleted)
            {
                Task more;
                int count;
                lock (_gate)
                {
                    more = _more.Task;
                    count = _candidates.Count;
                }
                if (count == 0)
                {
                    await Task.WhenAny(more, _end.Task).WaitAsync(max.Token).ConfigureAwait(false);
                    continue;
                }
                var quiet = Task.Delay(QuietPeriod, time, max.Token);
                var first = await Task.WhenAny(more, _end.Task, quiet).ConfigureAwait(false);
                if (first == quiet) break;
            }
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            // MaxWait: go with what we have
        }
        lock (_gate) _sealed = true;
    }

    /// <summary>The offer with every kept candidate written into its m-section (by mid, else by m-line index).</summary>
    public string BuildSdp()
    {
        List<(string Candidate, string? Mid, int? Index)> candidates;
        lock (_gate) candidates = [.. _candidates];
        if (candidates.Count == 0) return Sdp;
        string nl = Sdp.Contains("\r\n", StringComparison.Ordinal) ? "\r\n" : "\n";
        var lines = Sdp.Replace("\r\n", "\n", StringComparison.Ordinal).TrimEnd('\n').Split('\n');
        // sections: [0] session, then one per m= line
        var sections = new List<List<string>> { new() };
        foreach (string line in lines)
        {
            if (line.StartsWith("m=", StringComparison.Ordinal)) sections.Add([]);
            sections[^1].Add(line);
        }
        var mids = sections.Skip(1).Select(s => s.FirstOrDefault(l => l.StartsWith("a=mid:", StringComparison.Ordinal))?[6..].Trim()).ToList();
        foreach (var (candidate, mid, index) in candidates)
        {
            int m = mid is not null ? mids.IndexOf(mid) : -1;
            if (m < 0 && index is { } i && i >= 0 && i < mids.Count) m = i;
            if (m < 0 && mids.Count > 0) m = 0; // bundled: the first section carries the transport
            if (m < 0) continue;
            string a = "a=" + candidate;
            if (!sections[m + 1].Contains(a)) sections[m + 1].Add(a);
        }
        var sb = new StringBuilder(Sdp.Length + candidates.Count * 100);
        foreach (var s in sections)
            foreach (string l in s)
                sb.Append(l).Append(nl);
        return sb.ToString();
    }

    /// <summary>The <c>a=candidate</c> lines of an SDP with their mid and m-line index (to trickle an answer's candidates too).</summary>
    public static IEnumerable<(string Candidate, string? Mid, int Index)> CandidatesOf(string sdp)
    {
        int index = -1;
        string? mid = null;
        var pending = new List<string>();
        foreach (string raw in sdp.Replace("\r\n", "\n", StringComparison.Ordinal).Split('\n'))
        {
            if (raw.StartsWith("m=", StringComparison.Ordinal))
            {
                foreach (var c in pending) yield return (c, mid, index);
                pending.Clear();
                index++;
                mid = null;
            }
            else if (raw.StartsWith("a=mid:", StringComparison.Ordinal)) mid = raw[6..].Trim();
            else if (raw.StartsWith("a=candidate:", StringComparison.Ordinal) && index >= 0) pending.Add(raw[2..].Trim());
        }
        foreach (var c in pending) yield return (c, mid, index);
    }
}
