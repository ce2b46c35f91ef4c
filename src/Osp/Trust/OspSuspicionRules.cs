using System.Globalization;
using System.Net;
using System.Text;
using OspBridge.Osp.Discovery;

namespace OspBridge.Osp.Trust;

/// <summary>Which suspicious-agent rule fired (Open Screen Network Protocol §Authentication, "suspicious agents").</summary>
public enum OspSuspicionKind
{
    /// <summary>A known fingerprint now advertises another display name.</summary>
    DisplayNameChanged,

    /// <summary>One fingerprint is seen at several endpoints at once (another instance name, or disjoint addresses).</summary>
    FingerprintAtSeveralEndpoints,

    /// <summary>An untrusted agent's name resembles (but is not equal to) a trusted agent's name.</summary>
    NameResemblesTrustedPeer,

    /// <summary>An untrusted fingerprint advertises a trusted agent's name — never treated as that agent.</summary>
    TrustedNameWithNewFingerprint,

    /// <summary>Authentication with this fingerprint failed repeatedly.</summary>
    RepeatedAuthFailures,
}

/// <summary>One warning from <see cref="OspSuspicionRules.Evaluate"/>.</summary>
/// <param name="Kind">The rule.</param>
/// <param name="Fingerprint">The observed agent's fingerprint.</param>
/// <param name="Message">A sentence for the user (names quoted as received; sanitise before printing to a terminal).</param>
/// <param name="RelatedFingerprint">The trusted peer it is confused with, when there is one.</param>
public sealed record OspSuspicion(OspSuspicionKind Kind, string Fingerprint, string Message, string? RelatedFingerprint = null);

/// <summary>What discovery (or a connection's agent-info) says about an agent.</summary>
/// <param name="Fingerprint">TXT <c>fp</c> (or the certificate's).</param>
/// <param name="DisplayName">The advertised display name.</param>
/// <param name="InstanceName">The DNS-SD instance name it was found under.</param>
/// <param name="Endpoints">The endpoints it was found at.</param>
public sealed record OspPeerObservation(string Fingerprint, string DisplayName, string InstanceName, IReadOnlyList<IPEndPoint> Endpoints)
{
    /// <summary>The observation carried by a discovery result (a private instance name is no display name: empty).</summary>
    public static OspPeerObservation FromAgentInfo(OspAgentInfo info)
    {
        ArgumentNullException.ThrowIfNull(info);
        return new(info.Txt.Fingerprint, info.IsPrivate ? "" : info.DisplayName, info.InstanceName, info.Addresses.Select(a => new IPEndPoint(a, info.Port)).ToList());
    }
}

/// <summary>
/// The suspicious-agent rules as warnings — a pure function of the trust store's records and what discovery sees.
/// Nothing here changes trust: a trusted name with a new fingerprint stays untrusted until the user pairs it
/// (with a PIN) and is never merged into the old record.
/// </summary>
/// <remarks>
/// <para>"Resembles" (<see cref="Resembles"/>): both names reduced to a <see cref="Skeleton"/> — NFKD with combining
/// marks dropped (plus fixed tables for full-width ASCII and accented Latin letters, because with
/// InvariantGlobalization <c>string.Normalize</c> does not decompose), lower case, format/zero-width characters, spaces and <c>-_.'</c> removed, a small confusables
/// table in the spirit of Unicode TS #39 (Cyrillic/Greek look-alikes of Latin letters; 0→o, 1/i/|→l, 3→e, 5→s,
/// 8→b; rn→m, vv→w, cl→d) — and then equal skeletons, or an optimal-string-alignment edit distance of at most 1
/// (skeletons of 4–11 characters) or 2 (12 or more). Shorter skeletons only match when equal.
/// Names equal after NFKC and case folding are not "resembling" but "the same" (<see cref="OspSuspicionKind.TrustedNameWithNewFingerprint"/>).</para>
/// <para>"Several endpoints": another current observation with the same fingerprint under another instance name,
/// or under the same instance name with no address in common (a multi-homed agent lists all its addresses in one
/// answer, so overlapping address sets are normal).</para>
/// </remarks>
public static class OspSuspicionRules
{
    /// <summary>Evaluates every rule for <paramref name="observed"/>.</summary>
    /// <param name="known">The store's records (<see cref="OspTrustStore.Peers"/>).</param>
    /// <param name="observed">The agent being looked at.</param>
    /// <param name="current">Everything discovery currently sees (may include <paramref name="observed"/> itself).</param>
    public static IReadOnlyList<OspSuspicion> Evaluate(IReadOnlyCollection<OspTrustedPeer> known, OspPeerObservation observed, IReadOnlyCollection<OspPeerObservation>? current = null)
    {
        ArgumentNullException.ThrowIfNull(known);
        ArgumentNullException.ThrowIfNull(observed);
        var result = new List<OspSuspicion>();
        var fp = observed.Fingerprint;
        var self = known.FirstOrDefault(p => p.Fingerprint == fp);
        var name = observed.DisplayName;

        if (self?.Name is { } oldName && !string.IsNullOrEmpty(name) && !string.Equals(oldName, name, StringComparison.Ordinal))
            result.Add(new(OspSuspicionKind.DisplayNameChanged, fp, $"agent {OspPeerId.FromFingerprint(fp)} was \"{oldName}\" and now calls itself \"{name}\""));

        if (current is not null)
        {
            foreach (var other in current)
            {
                if (other.Fingerprint != fp || ReferenceEquals(other, observed)) continue;
                bool sameInstance = string.Equals(other.InstanceName, observed.InstanceName, StringComparison.Ordinal);
                bool shareAddress = other.Endpoints.Any(e => observed.Endpoints.Any(o => o.Address.Equals(e.Address)));
                if (!sameInstance || !shareAddress)
                {
                    result.Add(new(OspSuspicionKind.FingerprintAtSeveralEndpoints, fp,
                        $"fingerprint of agent {OspPeerId.FromFingerprint(fp)} is advertised as \"{observed.InstanceName}\" at {string.Join(", ", observed.Endpoints)} and as \"{other.InstanceName}\" at {string.Join(", ", other.Endpoints)}"));
                    break;
                }
            }
        }

        if (self?.Trusted != true && !string.IsNullOrEmpty(name))
        {
            var folded = Fold(name);
            var sameName = known.Where(p => p.Trusted && p.Fingerprint != fp && p.Name is { } n && Fold(n) == folded).ToList();
            foreach (var p in sameName)
                result.Add(new(OspSuspicionKind.TrustedNameWithNewFingerprint, fp,
                    $"\"{name}\" is the name of trusted peer {p.Id}, but this agent has another key ({OspPeerId.FromFingerprint(fp)}); it is NOT that peer unless you pair with it", p.Fingerprint));
            if (sameName.Count == 0)
            {
                foreach (var p in known)
                {
                    if (!p.Trusted || p.Fingerprint == fp || p.Name is not { } n || !Resembles(name, n)) continue;
                    result.Add(new(OspSuspicionKind.NameResemblesTrustedPeer, fp,
                        $"\"{name}\" ({OspPeerId.FromFingerprint(fp)}) looks like trusted peer \"{n}\" ({p.Id})", p.Fingerprint));
                }
            }
        }

        if (self is not null && (self.AuthFailures >= OspTrustStore.AuthFailureThreshold || self.Marks.HasFlag(OspPeerMarks.RepeatedAuthFailures)))
            result.Add(new(OspSuspicionKind.RepeatedAuthFailures, fp, $"authentication with agent {OspPeerId.FromFingerprint(fp)} failed {self.AuthFailures} times in a row"));
        return result;
    }

    /// <summary>True when two different names look alike (see the class remarks); false for names equal after case folding.</summary>
    public static bool Resembles(string a, string b)
    {
        ArgumentNullException.ThrowIfNull(a);
        ArgumentNullException.ThrowIfNull(b);
        if (Fold(a) == Fold(b)) return false;
        string sa = Skeleton(a), sb = Skeleton(b);
        if (sa.Length == 0 || sb.Length == 0) return false;
        if (sa == sb) return true;
        int shorter = Math.Min(sa.Length, sb.Length);
        int allowed = shorter >= 12 ? 2 : shorter >= 4 ? 1 : 0;
        return allowed > 0 && Math.Abs(sa.Length - sb.Length) <= allowed && EditDistance(sa, sb) <= allowed;
    }

    /// <summary>The confusable skeleton of a name (see the class remarks).</summary>
    public static string Skeleton(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        var decomposed = name.Normalize(NormalizationForm.FormKD);
        var sb = new StringBuilder(decomposed.Length);
        foreach (char c0 in decomposed)
        {
            var cat = CharUnicodeInfo.GetUnicodeCategory(c0);
            if (cat is UnicodeCategory.NonSpacingMark or UnicodeCategory.SpacingCombiningMark or UnicodeCategory.EnclosingMark
                or UnicodeCategory.Format or UnicodeCategory.Control or UnicodeCategory.SpaceSeparator) continue;
            char c = char.ToLowerInvariant(Narrow(c0));
            if (c is '-' or '_' or '.' or '\'' or ' ') continue;
            sb.Append(Confusable(c));
        }
        return sb.Replace("rn", "m").Replace("vv", "w").Replace("cl", "d").ToString();
    }

    // Latin letters with diacritics → base letter (Latin-1 Supplement and common Latin Extended-A); the project runs
    // with InvariantGlobalization, where string.Normalize does not decompose, so this table does it.
    private const string Accented = "àáâãäåāăąçćĉċčďđèéêëēĕėęěĝğġģĥħìíîïĩīĭįĵķĺļľŀłñńņňòóôõöøōŏőŕŗřśŝşšţťŧùúûüũūŭůűųŵýÿŷźżžß";
    private const string Plain = "aaaaaaaaacccccddeeeeeeeeegggghhiiiiiiiijklllllnnnnooooooooorrrsssstttuuuuuuuuuuwyyyzzzs";

    /// <summary>Full-width ASCII (U+FF01–FF5E) → ASCII and the ideographic space → space (NFKC's effect on them).</summary>
    private static char Narrow(char c) => c switch
    {
        >= '\uFF01' and <= '\uFF5E' => (char)(c - 0xFEE0),
        '\u3000' => ' ',
        _ => c,
    };

    private static char Confusable(char c)
    {
        int i = Accented.IndexOf(c, StringComparison.Ordinal);
        if (i >= 0) return Plain[i];
        return ConfusableLetter(c);
    }

    private static char ConfusableLetter(char c) => c switch
    {
        'а' or 'α' => 'a',
        'в' or 'β' => 'b',
        'с' or 'ϲ' => 'c',
        'ԁ' => 'd',
        'е' or 'ε' or 'ё' or '3' => 'e',
        'һ' => 'h',
        'і' or 'ι' or 'ı' or 'i' or '1' or '|' or 'ӏ' => 'l',
        'ј' => 'j',
        'к' or 'κ' => 'k',
        'м' => 'm',
        'н' or 'η' => 'n',
        'о' or 'ο' or 'σ' or '0' => 'o',
        'р' or 'ρ' => 'p',
        'ѕ' or '5' => 's',
        'т' or 'τ' => 't',
        'υ' or 'у' => 'y',
        'ν' => 'v',
        'ш' or 'ω' => 'w',
        'х' or 'χ' => 'x',
        '8' => 'b',
        _ => c,
    };

    private static string Fold(string s)
    {
        var n = s.Normalize(NormalizationForm.FormKC);
        var sb = new StringBuilder(n.Length);
        foreach (char c in n) sb.Append(Narrow(c));
        return sb.ToString().Trim().ToUpperInvariant();
    }

    /// <summary>Optimal string alignment distance (Levenshtein plus adjacent transpositions).</summary>
    private static int EditDistance(string a, string b)
    {
        var d = new int[a.Length + 1, b.Length + 1];
        for (int i = 0; i <= a.Length; i++) d[i, 0] = i;
        for (int j = 0; j <= b.Length; j++) d[0, j] = j;
        for (int i = 1; i <= a.Length; i++)
        {
            for (int j = 1; j <= b.Length; j++)
            {
                int cost = a[i - 1] == b[j - 1] ? 0 : 1;
                d[i, j] = Math.Min(Math.Min(d[i - 1, j] + 1, d[i, j - 1] + 1), d[i - 1, j - 1] + cost);
                if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
                    d[i, j] = Math.Min(d[i, j], d[i - 2, j - 2] + 1);
            }
        }
        return d[a.Length, b.Length];
    }
}
