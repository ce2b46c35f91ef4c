using System.Net;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json.Serialization;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using OspBridge.Net.IO;
using OspBridge.WebRtc.Ice;

namespace OspBridge.WebRtc;

/// <summary>RTCSdpType.</summary>
public enum RTCSdpType
{
    /// <summary>An offer.</summary>
    Offer,
    /// <summary>An answer.</summary>
    Answer,
}

/// <summary>RTCSessionDescriptionInit: the JSON the W3C API exchanges, <c>{"type":"offer","sdp":"..."}</c>.</summary>
/// <param name="Type">Offer or answer.</param>
/// <param name="Sdp">The SDP text.</param>
public sealed record RTCSessionDescription(RTCSdpType Type, string Sdp)
{
    /// <summary>The JSON form <c>{"type":"offer"|"answer","sdp":...}</c>.</summary>
    public string ToJson() => System.Text.Json.JsonSerializer.Serialize(new JsonForm(Type == RTCSdpType.Offer ? "offer" : "answer", Sdp), RtcJsonContext.Default.JsonForm);

    /// <summary>Parses the JSON form, or raw SDP (then <paramref name="rawType"/> is the type). Throws <see cref="WebRtcException"/>.</summary>
    public static RTCSessionDescription Parse(string text, RTCSdpType rawType)
    {
        ArgumentNullException.ThrowIfNull(text);
        string t = text.Trim();
        if (!t.StartsWith('{')) return new RTCSessionDescription(rawType, t.EndsWith('\n') ? t : t + "\r\n");
        JsonForm? j;
        try { j = System.Text.Json.JsonSerializer.Deserialize(t, RtcJsonContext.Default.JsonForm); }
        catch (System.Text.Json.JsonException ex) { throw new WebRtcException(WebRtcError.Malformed, "session description JSON: " + ex.Message); }
        if (j?.Sdp is null || j.Type is not ("offer" or "answer")) throw new WebRtcException(WebRtcError.Malformed, "session description JSON needs type offer|answer and sdp");
        return new RTCSessionDescription(j.Type == "offer" ? RTCSdpType.Offer : RTCSdpType.Answer, j.Sdp);
    }

    internal sealed record JsonForm([property: JsonPropertyName("type")] string Type, [property: JsonPropertyName("sdp")] string Sdp);
}

[JsonSerializable(typeof(RTCSessionDescription.JsonForm))]
internal sealed partial class RtcJsonContext : JsonSerializerContext;

/// <summary>RTCIceCandidateInit.</summary>
/// <param name="Candidate">The <c>candidate:...</c> string; empty for end-of-candidates.</param>
/// <param name="SdpMid">The m-section's mid.</param>
/// <param name="SdpMLineIndex">The m-section's index.</param>
public sealed record RTCIceCandidateInit(string Candidate, string? SdpMid = "0", int? SdpMLineIndex = 0);

/// <summary>RTCDataChannelInit.</summary>
public sealed record RTCDataChannelInit
{
    /// <summary>Ordered delivery (default true).</summary>
    public bool Ordered { get; init; } = true;
    /// <summary>Partial reliability: retransmissions limit.</summary>
    public int? MaxRetransmits { get; init; }
    /// <summary>Partial reliability: lifetime in milliseconds.</summary>
    public int? MaxPacketLifeTime { get; init; }
    /// <summary>Sub-protocol.</summary>
    public string Protocol { get; init; } = "";
    /// <summary>Negotiated out of band (no DCEP); requires <see cref="Id"/>.</summary>
    public bool Negotiated { get; init; }
    /// <summary>Stream id for negotiated channels.</summary>
    public ushort? Id { get; init; }
}

/// <summary>RTCPeerConnectionState.</summary>
public enum RTCPeerConnectionState
{
    /// <summary>Nothing started.</summary>
    New,
    /// <summary>ICE or DTLS in progress.</summary>
    Connecting,
    /// <summary>ICE connected and DTLS up.</summary>
    Connected,
    /// <summary>ICE lost consent temporarily.</summary>
    Disconnected,
    /// <summary>ICE or DTLS failed.</summary>
    Failed,
    /// <summary>Closed locally or by the peer.</summary>
    Closed,
}

/// <summary>RTCIceGatheringState.</summary>
public enum RTCIceGatheringState
{
    /// <summary>Not started.</summary>
    New,
    /// <summary>Gathering.</summary>
    Gathering,
    /// <summary>All candidates known.</summary>
    Complete,
}

/// <summary>RTCIceConnectionState (W3C): the ICE transport's state, as the ICE agent (<see cref="Ice.IceAgent"/>) reports it.</summary>
public enum RTCIceConnectionState
{
    /// <summary>Not started, or waiting for remote candidates.</summary>
    New,
    /// <summary>Connectivity checks are running and no pair is selected yet.</summary>
    Checking,
    /// <summary>A pair is selected and consent is fresh.</summary>
    Connected,
    /// <summary>The controlling agent finished nominating (only the controlling agent reports it).</summary>
    Completed,
    /// <summary>Consent checks went unanswered for the disconnected timeout; may recover.</summary>
    Disconnected,
    /// <summary>No pair worked, or consent expired (RFC 7675): no more data may be sent.</summary>
    Failed,
    /// <summary>Closed.</summary>
    Closed,
}

/// <summary>RTCSignalingState (W3C): where the offer/answer exchange stands.</summary>
public enum RTCSignalingState
{
    /// <summary>No exchange in progress.</summary>
    Stable,
    /// <summary>Our offer is applied; waiting for the answer.</summary>
    HaveLocalOffer,
    /// <summary>The peer's offer is applied; our answer is due.</summary>
    HaveRemoteOffer,
    /// <summary>A local provisional answer is applied (not used: no pranswer support).</summary>
    HaveLocalPranswer,
    /// <summary>A remote provisional answer is applied (not used: no pranswer support).</summary>
    HaveRemotePranswer,
    /// <summary>The connection is closed.</summary>
    Closed,
}

/// <summary>RTCDataChannelState (W3C <c>readyState</c>).</summary>
public enum RTCDataChannelState
{
    /// <summary>Being opened.</summary>
    Connecting,
    /// <summary>Messages can flow.</summary>
    Open,
    /// <summary>A close was started.</summary>
    Closing,
    /// <summary>Closed; no more messages.</summary>
    Closed,
}

/// <summary>
/// RTCConfiguration: what an application configures, with the extensions a non-browser endpoint needs (which
/// addresses to gather on, ICE-lite, mDNS names). Driver and protocol internals (sockets, logging, clock, ICE timers)
/// are in <see cref="RTCPeerConnectionOptions"/>.
/// </summary>
public sealed record RTCConfiguration
{
    /// <summary>W3C <c>certificates</c>: our DTLS certificate (ECDSA P-256; the first is used); one is generated when null or empty.</summary>
    public IReadOnlyList<X509Certificate2>? Certificates { get; init; }
    /// <summary>Local addresses to gather host candidates on; when null, <see cref="Interfaces"/> decides.</summary>
    public IReadOnlyList<IPAddress>? LocalAddresses { get; init; }
    /// <summary>Interface names (e.g. <c>veth0</c>) whose addresses are used; null = every up, non-loopback interface.</summary>
    public IReadOnlyList<string>? Interfaces { get; init; }
    /// <summary>Include loopback addresses when enumerating interfaces.</summary>
    public bool IncludeLoopback { get; init; }
    /// <summary>Run ICE-lite (signal <c>a=ice-lite</c>, never send checks).</summary>
    public bool IceLite { get; init; }
    /// <summary>mDNS publisher/resolver for <c>.local</c> candidates; null = signal IPs and ignore remote <c>.local</c> names (peer-reflexive still works).</summary>
    public IMdnsHostNames? MdnsHostNames { get; init; }
    /// <summary>When an mDNS publisher is set, hide our IPs behind <c>&lt;uuid&gt;.local</c> names (as browsers do).</summary>
    public bool ObfuscateHostCandidates { get; init; } = true;
    /// <summary>Our <c>a=max-message-size</c> (Chrome: 262144).</summary>
    public int MaxMessageSize { get; init; } = 262_144;
}

/// <summary>
/// Advanced settings of an <see cref="RTCPeerConnection"/>: the driver (sockets, clock, logging), randomness and ICE
/// timers. The defaults are right for applications; tests and special deployments change them.
/// </summary>
public sealed record RTCPeerConnectionOptions
{
    /// <summary>Opens the UDP sockets (one per local address), e.g. inside a network namespace in tests.</summary>
    public IDatagramSocketFactory SocketFactory { get; init; } = UdpSocketFactory.Default;
    /// <summary>Where the connection logs (state changes, transport errors) at Debug/Information/Warning.</summary>
    public ILogger Logger { get; init; } = NullLogger.Instance;
    /// <summary>Clock and timers of the connection's loop.</summary>
    public TimeProvider TimeProvider { get; init; } = TimeProvider.System;
    /// <summary>Randomness of the protocol core (ICE credentials, tie-breaker, transaction ids, SDP session id); null = system CSPRNG.</summary>
    public System.Security.Cryptography.RandomNumberGenerator? Random { get; init; }
    /// <summary>ICE timers and limits.</summary>
    public IceAgentOptions Ice { get; init; } = new();
    /// <summary>OS receive/send buffer size of each UDP socket (bytes).</summary>
    public int SocketBufferSize { get; init; } = 4 << 20;
    /// <summary>Send REMB for received video (<see cref="PeerConnectionCoreOptions.SendRemb"/>). Default true.</summary>
    public bool SendRemb { get; init; } = true;
}
