using OspBridge.Crypto.Dtls;
using OspBridge.Net.Core;
using OspBridge.Net.Simulation;

namespace OspBridge.Crypto.Tests.Dtls;

/// <summary>Issue 9 item 2 (DTLS part): an off-path attacker who can put epoch-0 records on the wire.</summary>
public class DtlsSpoofingTests
{
    private static byte[] Record(byte contentType, ReadOnlySpan<byte> payload, ulong seq)
    {
        var d = new byte[13 + payload.Length];
        new DtlsRecordHeader(contentType, TlsVersion.Dtls12, 0, seq, (ushort)payload.Length).Write(d);
        payload.CopyTo(d.AsSpan(13));
        return d;
    }

    /// <summary>A handshake fragment header + body: message_seq, claimed total length, offset, bytes.</summary>
    private static byte[] Fragment(byte type, int length, ushort messageSeq, int offset, int fragmentLength, ulong recordSeq)
    {
        var hs = new byte[DtlsHandshakeHeader.Size + fragmentLength];
        new DtlsHandshakeHeader(type, length, messageSeq, offset, fragmentLength).Write(hs);
        new Random(fragmentLength).NextBytes(hs.AsSpan(DtlsHandshakeHeader.Size));
        return Record(TlsContentType.Handshake, hs, recordSeq);
    }

    [Fact]
    public void HandshakeCompletes_UnderAFloodOfSpoofedAlertsAndConflictingFragments()
    {
        using var pair = new DtlsTestPair(
            toServer: new VirtualLinkOptions { Delay = TimeSpan.FromMilliseconds(20) },
            toClient: new VirtualLinkOptions { Delay = TimeSpan.FromMilliseconds(20) });
        pair.Run(() => true); // start both endpoints
        ulong seq = 0;
        int injected = 0;
        for (int ms = 0; ms < 5_000 && !(pair.Client.State == DtlsState.Connected && pair.Server.State == DtlsState.Connected); ms++)
        {
            // every millisecond: a fatal handshake_failure alert and a close_notify to both ends, and a bogus first
            // fragment for each message_seq the real flights use, each claiming another length
            foreach (var node in new[] { pair.ClientNode, pair.ServerNode })
            {
                pair.Net.Inject(node, Record(TlsContentType.Alert, [2, 40], seq++), DatagramPath.None);
                pair.Net.Inject(node, Record(TlsContentType.Alert, [1, 0], seq++), DatagramPath.None);
                for (ushort m = 0; m < 6; m++)
                    pair.Net.Inject(node, Fragment(m == 0 ? TlsHandshakeType.ClientHello : TlsHandshakeType.Certificate, 40 + ms % 200, m, 0, 8, seq++), DatagramPath.None);
                injected += 8;
            }
            pair.Net.RunFor(TimeSpan.FromMilliseconds(1));
        }
        Assert.True(pair.Client.State == DtlsState.Connected && pair.Server.State == DtlsState.Connected,
            $"client {pair.Client.State} {pair.Client.Error?.Message}; server {pair.Server.State} {pair.Server.Error?.Message}; {injected} injected");
        Assert.True(injected > 100);
        pair.Client.Send("through"u8);
        pair.Run(() => false, TimeSpan.FromSeconds(1));
        Assert.True(pair.Server.TryReadApplicationData(out var got));
        Assert.Equal("through"u8.ToArray(), got.ToArray());
    }
}
