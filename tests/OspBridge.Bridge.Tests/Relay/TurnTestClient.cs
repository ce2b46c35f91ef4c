using System.Buffers.Binary;
using OspBridge.Bridge.Relay;
using OspBridge.Net.Core;
using OspBridge.WebRtc.Stun;

namespace OspBridge.Bridge.Tests.Relay;

/// <summary>A fake relay-port source: hands out 10.2.0.254:40000, 40001… and records what was closed.</summary>
internal sealed class FakePorts : IRelayPortSource
{
    private int _next = 40000;
    public List<IPEndPoint> Open { get; } = [];
    public List<IPEndPoint> Closed { get; } = [];
    public bool Fail { get; set; }

    public bool TryOpen(IPAddress address, out IPEndPoint? relay)
    {
        relay = Fail ? null : new IPEndPoint(address, _next++);
        if (relay is not null) Open.Add(relay);
        return relay is not null;
    }

    public void Close(IPEndPoint relay) => Closed.Add(relay);
}

/// <summary>A TURN client's requests for tests (RFC 8656 message shapes, long-term credentials).</summary>
internal sealed class TurnTestClient(TurnServerCore core, IPEndPoint client, IPEndPoint server)
{
    private int _tx;
    public string? Username { get; set; }
    public string? Password { get; set; }
    public byte[]? Nonce { get; set; }
    public byte[] Key => TurnCredentials.LongTermKey(Username!, TurnCredentials.Realm, Password!);

    public byte[] NextTransaction()
    {
        var t = new byte[12];
        BinaryPrimitives.WriteInt32BigEndian(t.AsSpan(8), ++_tx);
        t[0] = 0x5A;
        return t;
    }

    public StunMessageBuilder Request(ushort method, byte[]? txid = null) => new(method, StunClass.Request, txid ?? NextTransaction());

    /// <summary>Adds USERNAME, REALM, NONCE, MESSAGE-INTEGRITY (and FINGERPRINT) and returns the bytes.</summary>
    public byte[] Sign(StunMessageBuilder b, byte[]? key = null)
    {
        b.AddUsername(Username!).AddAttribute(StunAttributeType.Realm, Encoding.UTF8.GetBytes(TurnCredentials.Realm)).AddAttribute(StunAttributeType.Nonce, Nonce!);
        b.AddMessageIntegrity(key ?? Key).AddFingerprint();
        return b.ToArray();
    }

    public static byte[] Xor(IPEndPoint ep, ReadOnlySpan<byte> txid)
    {
        var v = new byte[StunXorAddress.EncodedLength(ep)];
        StunXorAddress.Write(v, ep, txid, xor: true);
        return v;
    }

    public static byte[] RequestedTransport(byte protocol) => [protocol, 0, 0, 0];

    /// <summary>Sends <paramref name="datagram"/> from the client and returns every datagram the core then sends.</summary>
    public List<(byte[] Bytes, DatagramPath Path)> Send(byte[] datagram, TimeSpan now) => Deliver(core, datagram, new DatagramPath(server, client), now);

    public static List<(byte[] Bytes, DatagramPath Path)> Deliver(TurnServerCore core, byte[] datagram, DatagramPath path, TimeSpan now)
    {
        core.Receive(datagram.ToArray(), path, now);
        return Drain(core, now);
    }

    public static List<(byte[] Bytes, DatagramPath Path)> Drain(TurnServerCore core, TimeSpan now)
    {
        var list = new List<(byte[], DatagramPath)>();
        var buf = new byte[CoreLimits.MaxDatagramSize];
        while (core.TryPollTransmit(buf, now, out var t)) list.Add((buf.AsSpan(0, t.Length).ToArray(), t.Path));
        return list;
    }

    /// <summary>Sends and parses the single STUN response.</summary>
    public StunMessage Call(byte[] request, TimeSpan now)
    {
        var outs = Send(request, now);
        Assert.True(outs.Count == 1, $"expected one response, the core sent {outs.Count} datagrams");
        Assert.Equal(client, outs[0].Path.Remote);
        Assert.True(StunMessage.TryParse(outs[0].Bytes, out var m), "the response does not parse as STUN");
        return m!;
    }

    /// <summary>Unauthenticated Allocate (401 with the nonce), then the authenticated one; returns the success.</summary>
    public StunMessage Allocate(TimeSpan now)
    {
        var first = Call(Request(TurnConstants.Allocate).AddAttribute(TurnConstants.AttrRequestedTransport, RequestedTransport(17)).ToArray(), now);
        Assert.Equal(StunClass.ErrorResponse, first.Class);
        Assert.Equal(401, first.ErrorCode?.Code);
        Assert.True(first.TryGetAttribute(StunAttributeType.Nonce, out var nonce), "401 without NONCE");
        Nonce = nonce.ToArray();
        return Call(Sign(Request(TurnConstants.Allocate).AddAttribute(TurnConstants.AttrRequestedTransport, RequestedTransport(17))), now);
    }
}
