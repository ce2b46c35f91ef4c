using System.Net;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json.Serialization;
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

/// <summary>RTCConfiguration plus the knobs a non-browser endpoint needs.</summary>
public sealed record RTCConfiguration
{
    /// <summary>Our DTLS certificate (ECDSA P-256); generated when null.</summary>
    public X509Certificate2? Certificate { get; init; }
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
    /// <summary>ICE timers and limits.</summary>
    public IceAgentOptions IceOptions { get; init; } = new();
    /// <summary>
    /// Creates and binds the UDP socket for one local address (e.g. inside a network namespace, or on a fixed port);
    /// null = <c>new Socket(...)</c> bound to port 0.
    /// </summary>
    public Func<IPAddress, System.Net.Sockets.Socket>? SocketFactory { get; init; }
    /// <summary>Diagnostics sink (one line per event), or null.</summary>
    public Action<string>? Log { get; init; }
}
