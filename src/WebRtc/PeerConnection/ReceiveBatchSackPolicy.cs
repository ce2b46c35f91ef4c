using System.Globalization;
using OspBridge.WebRtc.Sctp;

namespace OspBridge.WebRtc;

/// <summary>
/// Which SACKs a driver that feeds a whole receive batch to SCTP before it flushes seals in the middle of the batch
/// (issue 14, sessions 14–17). Everything not sealed mid-batch is covered by the one SACK the association writes at the
/// batch's flush (or, for a single in-order packet, after its delayed-ack timer: RFC 9260 §6.2's 200 ms bound holds in
/// every policy). Sans-IO: the driver calls <see cref="SealAfterPacket"/> after each SCTP packet it fed and
/// <see cref="EndBatch"/> when it starts to flush; the decisions depend only on the association's counters.
/// </summary>
internal sealed class ReceiveBatchSackPolicy
{
    /// <summary>The default policy (what <see cref="PeerConnectionCore.BenchSackMode"/> 0 selects).</summary>
    internal const int Default = 0;

    /// <summary>No SACK mid-batch: one SACK per receive batch, at its flush (before session 14).</summary>
    internal const int OnePerBatch = 1;

    /// <summary>Every owed SACK mid-batch, also one per packet while a gap is open (sessions 14–15).</summary>
    internal const int EveryOwed = 2;

    /// <summary>
    /// Mid-batch only a SACK owed for two DATA packets (<see cref="SctpAssociation.SackDueForTwoPackets"/>); one owed for a
    /// single packet in a gap, a duplicate or a window update waits for the flush (session 16).
    /// </summary>
    internal const int EverySecond = 3;

    /// <summary>
    /// One SACK per batch (at its flush) while the batch is short; once a batch has run <see cref="Threshold"/> DATA
    /// packets, a SACK for every second packet from there on, as <see cref="EverySecond"/> (session 17). Quiet, the loop's
    /// batches are short and Chromium's sender did best with one SACK per batch (fewer datagrams for its network thread);
    /// loaded, batches grow long and a SACK per batch left its sender dry between SACKs.
    /// </summary>
    internal const int Adaptive = 4;

    /// <summary>
    /// The policy <see cref="Default"/> stands for: <see cref="Adaptive"/> since session 17 (A/B under load in
    /// docs/benchmarks.md: as fast as <see cref="EverySecond"/>, a third fewer SACKs, less CPU on both sides).
    /// </summary>
    internal const int DefaultPolicy = Adaptive;

    /// <summary>
    /// <see cref="Adaptive"/>: DATA packets a batch runs before mid-batch SACKs start. 8: short batches (Chromium's bursts
    /// of ≈ 4 packets when it is SACK-clocked) get one SACK; the loop's full receive batches (16 datagrams) get 5.
    /// </summary>
    internal const int DefaultThreshold = 8;

    /// <summary>Upper bounds of the batch-size histogram's buckets (DATA packets per batch; the last bucket is open).</summary>
    private static readonly int[] BucketTop = [1, 2, 3, 4, 6, 8, 12, 16, 32, 64];

    private readonly long[] _histogram = new long[BucketTop.Length + 1];
    private long _batchStart;
    private long _sealed;

    /// <summary>A policy for an association that has received <paramref name="dataPacketsReceived"/> DATA packets so far (a new one: 0).</summary>
    internal ReceiveBatchSackPolicy(long dataPacketsReceived = 0) => _batchStart = dataPacketsReceived;

    /// <summary>The policy (one of the constants; <see cref="Default"/> = <see cref="DefaultPolicy"/>).</summary>
    internal int Mode { get; set; }

    /// <summary><see cref="Adaptive"/>'s threshold (DATA packets into a batch); ≤ 0 = <see cref="DefaultThreshold"/>.</summary>
    internal int Threshold { get; set; }

    /// <summary>The policy in force (<see cref="Default"/> resolved).</summary>
    internal int Effective => Mode == Default ? DefaultPolicy : Mode;

    /// <summary>SACKs the driver sealed mid-batch on this policy's word (diagnostics).</summary>
    internal long SealedMidBatch => _sealed;

    /// <summary>
    /// After one SCTP packet of a batch went into <paramref name="association"/>: true when the SACK owed now should be
    /// written at once (the driver then calls <see cref="SctpAssociation.TryWriteSackPacket"/> and
    /// <see cref="OnSealed"/>); false leaves it to the batch's flush.
    /// </summary>
    internal bool SealAfterPacket(SctpAssociation association)
    {
        switch (Effective)
        {
            case OnePerBatch:
                return false;
            case EveryOwed:
                return association.SackDueNow;
            case Adaptive:
                return association.DataPacketsReceived - _batchStart >= (Threshold > 0 ? Threshold : DefaultThreshold)
                    && association.SackDueForTwoPackets;
            default:
                return association.SackDueForTwoPackets;
        }
    }

    /// <summary>The driver sealed the SACK <see cref="SealAfterPacket"/> asked for.</summary>
    internal void OnSealed() => _sealed++;

    /// <summary>The batch ends (the driver starts to flush): counts its DATA packets and starts the next batch.</summary>
    internal void EndBatch(SctpAssociation association)
    {
        long n = association.DataPacketsReceived - _batchStart;
        if (n <= 0)
        {
            return;
        }
        int b = 0;
        while (b < BucketTop.Length && n > BucketTop[b])
        {
            b++;
        }
        _histogram[b]++;
        _batchStart = association.DataPacketsReceived;
    }

    /// <summary>Batches that held <paramref name="bucket"/>'s number of DATA packets (see <see cref="BucketName"/>).</summary>
    internal long BatchesIn(int bucket) => _histogram[bucket];

    /// <summary>Buckets of the batch-size histogram.</summary>
    internal static int Buckets => BucketTop.Length + 1;

    /// <summary>A bucket's range of DATA packets per batch: "1", "5-6", "65+".</summary>
    internal static string BucketName(int bucket)
    {
        if (bucket >= BucketTop.Length)
        {
            return string.Create(CultureInfo.InvariantCulture, $"{BucketTop[^1] + 1}+");
        }
        int lo = bucket == 0 ? 1 : BucketTop[bucket - 1] + 1;
        return lo == BucketTop[bucket]
            ? BucketTop[bucket].ToString(CultureInfo.InvariantCulture)
            : string.Create(CultureInfo.InvariantCulture, $"{lo}-{BucketTop[bucket]}");
    }

    /// <summary>Diagnostics: "sackPolicy 4/4 midBatchSacks n batches [1:n 2:n …]".</summary>
    internal string DebugState
    {
        get
        {
            var parts = new string[Buckets];
            for (int i = 0; i < parts.Length; i++)
            {
                parts[i] = string.Create(CultureInfo.InvariantCulture, $"{BucketName(i)}:{_histogram[i]}");
            }
            return string.Create(CultureInfo.InvariantCulture,
                $"sackPolicy {Effective}/{(Threshold > 0 ? Threshold : DefaultThreshold)} midBatchSacks {_sealed} batches [{string.Join(' ', parts)}]");
        }
    }
}
