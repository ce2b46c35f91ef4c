using OspBridge.Quic.Internal;
using OspBridge.Quic.Protection;
using OspBridge.Quic.Transport;

namespace OspBridge.Quic.Core;

/// <summary>State of one packet number space (RFC 9000 §12.3): keys, ACK state, CRYPTO stream, sent packets.</summary>
internal sealed class PacketSpace
{
    public PacketSpace(int index) => Index = index;

    public readonly int Index; // 0 Initial, 1 Handshake, 2 Application
    public PacketKeys? ReadKeys, WriteKeys;
    public bool Discarded;
    public ulong NextPn;
    public long LargestAcked = -1;

    public readonly RangeSet Received = new(64);
    /// <summary>Packets below this are treated as duplicates (their ranges were dropped after our ACK was acknowledged).</summary>
    public ulong DuplicateFloor;
    public long LargestReceived = -1;
    public TimeSpan LargestReceivedTime;
    public int AckElicitingSinceAck;
    public bool AckNeeded;       // something new to acknowledge
    public bool AckImmediately;  // send it now
    public TimeSpan AckDeadline = TimeSpan.MaxValue;

    public readonly SendBuffer CryptoSend = new(4096, 1 << 20);
    public readonly RecvBuffer CryptoRecv = new(4096, 64 << 10);

    public readonly List<SentPacket> Sent = new();
    public int SentHead;
    public TimeSpan LossTime = TimeSpan.MaxValue;
    public TimeSpan LastAckElicitingSent;
    public int AckElicitingInFlight;
    public int ProbesPending;

    /// <summary>
    /// The space's keys and CRYPTO buffers are no longer needed (the space is discarded, or the connection is closed):
    /// the AEAD/header-protection contexts are freed and the rings go back to the pool. Nothing is sent or decrypted in
    /// this space afterwards (no keys).
    /// </summary>
    public void ReleaseKeysAndCrypto()
    {
        ReadKeys?.Dispose();
        WriteKeys?.Dispose();
        ReadKeys = WriteKeys = null;
        CryptoSend.Release();
        CryptoRecv.Release();
    }

    public void CompactSent()
    {
        while (SentHead < Sent.Count && Sent[SentHead].Done) SentHead++;
        if (SentHead > 256 && SentHead * 2 > Sent.Count)
        {
            Sent.RemoveRange(0, SentHead);
            SentHead = 0;
        }
    }

    /// <summary>Index of the first live entry with Pn ≥ pn.</summary>
    public int LowerBound(ulong pn)
    {
        int lo = SentHead, hi = Sent.Count;
        while (lo < hi)
        {
            int mid = (lo + hi) >>> 1;
            if (Sent[mid].Pn < pn) lo = mid + 1; else hi = mid;
        }
        return lo;
    }
}
