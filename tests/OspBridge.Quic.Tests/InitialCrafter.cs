using OspBridge.Crypto.Tls;
using OspBridge.Quic.Core;
using OspBridge.Quic.Packets;
using OspBridge.Quic.Protection;

namespace OspBridge.Quic.Tests;

/// <summary>
/// Builds client Initials for the flood tests (InitialFloodTests, ListenerDriverTests) and the soak bench
/// (bench/SoakBench.cs links this file: one source): a real Initial from the client core, the same ClientHello
/// re-encrypted under a fresh DCID, and junk shaped like an Initial that decrypts under no key.
/// </summary>
internal static class InitialCrafter
{
    /// <summary>A real client Initial (real TLS ClientHello) from a core that will never answer the server.</summary>
    public static byte[] RealInitial(string alpn)
    {
        var core = ConnectionCore.CreateClient(new CoreOptions(), tp => QuicTls.Create(new QuicTlsOptions
        {
            IsClient = true,
            ServerName = "localhost",
            ApplicationProtocols = [alpn],
            LocalTransportParameters = tp,
            ValidatePeerCertificate = (_, _) => true,
        }));
        core.Start(TimeSpan.Zero);
        var buf = new byte[1500];
        if (!core.TryPollTransmit(buf, TimeSpan.Zero, out var tx)) throw new InvalidOperationException("the client core sent no Initial");
        return buf[..tx.Length];
    }

    /// <summary>The same ClientHello re-encrypted under a fresh random DCID (same length): a new valid Initial.</summary>
    public static byte[] Reencrypt(byte[] initial, Random rng)
    {
        var packet = initial.ToArray();
        if (!PacketHeader.TryParse(packet, 8, out var h)) throw new ArgumentException("not a QUIC long-header packet", nameof(initial));
        var (clientKeys, serverKeys) = InitialSecrets.CreateKeys(packet.AsSpan(h.DcidOffset, h.DcidLength), isClient: false);
        var p = packet.AsSpan(0, h.PacketLength);
        if (!PacketProtector.TryRemoveHeaderProtection(clientKeys.HeaderProtection, p, h.PnOffset, out int pnLength, out uint pn)
            || !PacketProtector.TryDecrypt(clientKeys, p, h.PnOffset, pnLength, pn, out _, out int payloadLength))
            throw new ArgumentException("the Initial does not decrypt under its DCID's keys", nameof(initial));
        clientKeys.Dispose();
        serverKeys.Dispose();
        rng.NextBytes(packet.AsSpan(h.DcidOffset, h.DcidLength));
        var (_, write) = InitialSecrets.CreateKeys(packet.AsSpan(h.DcidOffset, h.DcidLength), isClient: true);
        PacketProtector.Protect(write, p, h.PnOffset, pnLength, pn, payloadLength);
        write.Dispose();
        return packet;
    }

    /// <summary>1200 bytes that parse as a v1 Initial with a random DCID (8–20 bytes) but decrypt under no key.</summary>
    public static byte[] Junk(Random rng)
    {
        var d = new byte[1200];
        rng.NextBytes(d);
        d[0] = (byte)(0xc0 | (d[0] & 0x0f));
        d[1] = 0; d[2] = 0; d[3] = 0; d[4] = 1;
        int dl = rng.Next(8, 21), sl = rng.Next(0, 21);
        d[5] = (byte)dl;
        d[6 + dl] = (byte)sl;
        int p = 7 + dl + sl;
        d[p++] = 0; // no token
        int len = d.Length - p - 2;
        d[p++] = (byte)(0x40 | (len >> 8));
        d[p] = (byte)len;
        return d;
    }
}
