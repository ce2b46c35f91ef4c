using System;
using System.Collections.Generic;
using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace OspBridge.Osp.SchemaGen
{
    /// <summary>Parses the CDDL subset described in osp-messages.cddl (see docs/osp-messages.md).</summary>
    internal sealed class CddlParser
    {
        private enum Tok
        {
            Name,
            Int,
            Punct,
            Control,
            Comment,
            End,
        }

        private struct Token
        {
            public Tok Kind;
            public string Text;
            public int Line;
            public int Column;
        }

        private static readonly Regex TypeKeyComment = new Regex(@"^\s*type key (\d+)\s*$", RegexOptions.CultureInvariant);

        private readonly List<Token> _tokens = new List<Token>();
        private int _index;
        private int _lastLine;

        private CddlParser(string text)
        {
            Lex(text);
        }

        /// <summary>Parses <paramref name="text"/>; errors are appended to <paramref name="errors"/>.</summary>
        public static List<CddlRule> Parse(string text, List<CddlError> errors)
        {
            var parser = new CddlParser(text);
            var rules = new List<CddlRule>();
            try
            {
                parser.ParseFile(rules);
            }
            catch (ParseException e)
            {
                errors.Add(new CddlError(e.Message, e.Line, e.Column));
            }

            return rules;
        }

        private void Lex(string text)
        {
            int line = 0;
            int lineStart = 0;
            int i = 0;
            while (i < text.Length)
            {
                char c = text[i];
                int column = i - lineStart;
                if (c == '\n')
                {
                    line++;
                    i++;
                    lineStart = i;
                    continue;
                }

                if (char.IsWhiteSpace(c))
                {
                    i++;
                    continue;
                }

                if (c == ';')
                {
                    int end = text.IndexOf('\n', i);
                    if (end < 0)
                    {
                        end = text.Length;
                    }

                    Add(Tok.Comment, text.Substring(i + 1, end - i - 1).Trim(), line, column);
                    i = end;
                    continue;
                }

                if (char.IsLetter(c) || c == '_' || c == '$' || c == '@')
                {
                    int start = i;
                    while (i < text.Length && (char.IsLetterOrDigit(text[i]) || text[i] == '-' || text[i] == '_' || text[i] == '$' || text[i] == '@'))
                    {
                        i++;
                    }

                    // A name may not end in '-' (CDDL); leave it for the next token.
                    while (text[i - 1] == '-')
                    {
                        i--;
                    }

                    Add(Tok.Name, text.Substring(start, i - start), line, column);
                    continue;
                }

                if (char.IsDigit(c))
                {
                    int start = i;
                    while (i < text.Length && char.IsDigit(text[i]))
                    {
                        i++;
                    }

                    Add(Tok.Int, text.Substring(start, i - start), line, column);
                    continue;
                }

                if (c == '.' && i + 1 < text.Length && char.IsLetter(text[i + 1]))
                {
                    int start = i;
                    i++;
                    while (i < text.Length && (char.IsLetterOrDigit(text[i]) || text[i] == '-'))
                    {
                        i++;
                    }

                    Add(Tok.Control, text.Substring(start, i - start), line, column);
                    continue;
                }

                if (c == '/' && i + 1 < text.Length && text[i + 1] == '=')
                {
                    Add(Tok.Punct, "/=", line, column);
                    i += 2;
                    continue;
                }

                if (c == '.' && i + 1 < text.Length && text[i + 1] == '.')
                {
                    Add(Tok.Punct, "..", line, column);
                    i += 2;
                    continue;
                }

                if ("={}[]():?*&/,+".IndexOf(c) >= 0)
                {
                    Add(Tok.Punct, c.ToString(), line, column);
                    i++;
                    continue;
                }

                throw new ParseException("Unexpected character '" + c + "'.", line, column);
            }

            Add(Tok.End, "", line, 0);
        }

        private void Add(Tok kind, string text, int line, int column) =>
            _tokens.Add(new Token { Kind = kind, Text = text, Line = line, Column = column });

        private void ParseFile(List<CddlRule> rules)
        {
            var pendingComments = new List<Token>();
            while (true)
            {
                Token t = _tokens[_index];
                if (t.Kind == Tok.Comment)
                {
                    pendingComments.Add(t);
                    _index++;
                    continue;
                }

                if (t.Kind == Tok.End)
                {
                    return;
                }

                if (t.Kind != Tok.Name)
                {
                    throw Error("Expected a rule name.", t);
                }

                var rule = new CddlRule { Name = t.Text, Line = t.Line };
                ApplyLeadingComments(rule, pendingComments, t.Line);
                pendingComments.Clear();
                Advance();
                Token op = Advance();
                if (op.Text == "/=")
                {
                    rule.IsExtension = true;
                }
                else if (op.Text != "=")
                {
                    throw Error("Expected '=' or '/=' after " + rule.Name + ".", op);
                }

                ParseRuleBody(rule);
                rules.Add(rule);
            }
        }

        /// <summary>The comment block directly above a rule is its documentation; "type key N" marks a message.</summary>
        private static void ApplyLeadingComments(CddlRule rule, List<Token> comments, int ruleLine)
        {
            int expected = ruleLine - 1;
            int first = comments.Count;
            for (int i = comments.Count - 1; i >= 0 && comments[i].Line == expected; i--, expected--)
            {
                first = i;
            }

            var doc = new StringBuilder();
            for (int i = first; i < comments.Count; i++)
            {
                Match m = TypeKeyComment.Match(comments[i].Text);
                if (m.Success)
                {
                    rule.TypeKey = long.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture);
                }
                else
                {
                    if (doc.Length > 0)
                    {
                        doc.Append(' ');
                    }

                    doc.Append(comments[i].Text);
                }
            }

            rule.Doc = doc.ToString();
        }

        private void ParseRuleBody(CddlRule rule)
        {
            Token t = Peek();
            if (IsPunct(t, "{"))
            {
                Advance();
                rule.Kind = RuleKind.Map;
                rule.Entries = ParseEntries("}");
            }
            else if (IsPunct(t, "[") && !IsListOccurrence(1))
            {
                Advance();
                rule.Kind = RuleKind.Array;
                rule.Entries = ParseEntries("]");
            }
            else if (IsPunct(t, "("))
            {
                Advance();
                rule.Entries = ParseEntries(")");
                rule.Kind = rule.Entries.Count > 0 && rule.Entries.TrueForAll(e => e.EnumValue.HasValue) ? RuleKind.Enum : RuleKind.Group;
            }
            else if (IsPunct(t, "&") && IsPunct(PeekAt(1), "("))
            {
                Advance();
                Advance();
                rule.Kind = RuleKind.Enum;
                rule.Entries = ParseEntries(")");
                foreach (CddlEntry e in rule.Entries)
                {
                    if (!e.EnumValue.HasValue)
                    {
                        throw new ParseException("Enumeration " + rule.Name + " may only hold 'name: integer' members.", e.Line, e.Column);
                    }
                }
            }
            else
            {
                rule.Kind = RuleKind.Alias;
                rule.AliasType = ParseType();
            }
        }

        private List<CddlEntry> ParseEntries(string close)
        {
            var entries = new List<CddlEntry>();
            while (true)
            {
                Token t = Peek();
                if (IsPunct(t, ","))
                {
                    Advance();
                    continue;
                }

                if (IsPunct(t, close))
                {
                    Advance();
                    return entries;
                }

                if (t.Kind == Tok.End)
                {
                    throw Error("Missing '" + close + "'.", t);
                }

                var entry = new CddlEntry { Line = t.Line, Column = t.Column };
                if (IsPunct(t, "?"))
                {
                    entry.Optional = true;
                    Advance();
                    t = Peek();
                }

                if (t.Kind == Tok.Int)
                {
                    Advance();
                    entry.IntKey = long.Parse(t.Text, CultureInfo.InvariantCulture);
                    Expect(":");
                    entry.Type = ParseType();
                }
                else if (t.Kind == Tok.Name && IsPunct(PeekAt(1), ":"))
                {
                    Advance();
                    Advance();
                    entry.Label = t.Text;
                    Token value = Peek();
                    if (value.Kind == Tok.Int && !IsPunct(PeekAt(1), "*"))
                    {
                        Advance();
                        entry.EnumValue = long.Parse(value.Text, CultureInfo.InvariantCulture);
                    }
                    else
                    {
                        entry.Type = ParseType();
                    }
                }
                else if (t.Kind == Tok.Name)
                {
                    Advance();
                    entry.GroupRef = t.Text;
                }
                else
                {
                    throw Error("Expected a group entry.", t);
                }

                if (IsPunct(Peek(), ",") && Peek().Line == _lastLine)
                {
                    Advance();
                }

                entry.Comment = TakeTrailingComment();
                entries.Add(entry);
            }
        }

        private CddlType ParseType()
        {
            CddlType first = ParseType1();
            if (!IsPunct(Peek(), "/"))
            {
                return first;
            }

            var choice = new CddlType { Kind = TypeKind.Choice, Line = first.Line, Column = first.Column };
            choice.Choices.Add(first);
            while (IsPunct(Peek(), "/"))
            {
                Advance();
                choice.Choices.Add(ParseType1());
            }

            return choice;
        }

        private CddlType ParseType1()
        {
            Token t = Advance();
            var type = new CddlType { Line = t.Line, Column = t.Column };
            if (t.Kind == Tok.Name)
            {
                type.Name = t.Text;
                type.Kind = IsPrimitive(t.Text) ? TypeKind.Prim : TypeKind.Named;
                if (Peek().Kind == Tok.Control)
                {
                    Token control = Advance();
                    if (control.Text != ".size" || type.Name != "bytes")
                    {
                        throw Error("Only 'bytes .size' is supported.", control);
                    }

                    if (IsPunct(Peek(), "("))
                    {
                        Advance();
                        type.SizeMin = ExpectInt();
                        Expect("..");
                        type.SizeMax = ExpectInt();
                        Expect(")");
                    }
                    else
                    {
                        type.SizeMin = type.SizeMax = ExpectInt();
                    }
                }

                return type;
            }

            if (IsPunct(t, "&"))
            {
                if (IsPunct(Peek(), "("))
                {
                    Advance();
                    type.Kind = TypeKind.InlineEnum;
                    type.Entries = ParseEntries(")");
                    foreach (CddlEntry e in type.Entries)
                    {
                        if (!e.EnumValue.HasValue)
                        {
                            throw new ParseException("Inline enumerations may only hold 'name: integer' members.", e.Line, e.Column);
                        }
                    }

                    return type;
                }

                Token name = Advance();
                if (name.Kind != Tok.Name)
                {
                    throw Error("Expected a name after '&'.", name);
                }

                type.Kind = TypeKind.EnumRef;
                type.Name = name.Text;
                return type;
            }

            if (IsPunct(t, "{"))
            {
                type.Kind = TypeKind.InlineMap;
                type.Entries = ParseEntries("}");
                return type;
            }

            if (IsPunct(t, "["))
            {
                type.Kind = TypeKind.List;
                Token occurrence = Advance();
                if (IsPunct(occurrence, "*"))
                {
                    type.MinCount = 0;
                }
                else if (IsPunct(occurrence, "+"))
                {
                    type.MinCount = 1;
                }
                else if (occurrence.Kind == Tok.Int && IsPunct(Peek(), "*"))
                {
                    Advance();
                    type.MinCount = int.Parse(occurrence.Text, CultureInfo.InvariantCulture);
                }
                else
                {
                    throw Error("Only homogeneous arrays '[* T]', '[1* T]' or '[+ T]' are supported inside a type.", occurrence);
                }

                type.Element = ParseType();
                Expect("]");
                return type;
            }

            throw Error("Expected a type.", t);
        }

        private static bool IsPrimitive(string name) =>
            name == "uint" || name == "int" || name == "text" || name == "bytes" || name == "bool" || name == "float64" || name == "null" || name == "tstr" || name == "bstr";

        private bool IsListOccurrence(int offset)
        {
            Token t = PeekAt(offset);
            return IsPunct(t, "*") || IsPunct(t, "+") || (t.Kind == Tok.Int && IsPunct(PeekAt(offset + 1), "*"));
        }

        private string TakeTrailingComment()
        {
            if (_index < _tokens.Count && _tokens[_index].Kind == Tok.Comment && _tokens[_index].Line == _lastLine)
            {
                return _tokens[_index++].Text;
            }

            return "";
        }

        private Token Peek() => PeekAt(0);

        private Token PeekAt(int offset)
        {
            int i = _index;
            while (true)
            {
                while (_tokens[i].Kind == Tok.Comment)
                {
                    i++;
                }

                if (offset == 0 || _tokens[i].Kind == Tok.End)
                {
                    return _tokens[i];
                }

                offset--;
                i++;
            }
        }

        private Token Advance()
        {
            while (_tokens[_index].Kind == Tok.Comment)
            {
                _index++;
            }

            Token t = _tokens[_index];
            if (t.Kind != Tok.End)
            {
                _index++;
                _lastLine = t.Line;
            }

            return t;
        }

        private void Expect(string punct)
        {
            Token t = Advance();
            if (!IsPunct(t, punct))
            {
                throw Error("Expected '" + punct + "'.", t);
            }
        }

        private int ExpectInt()
        {
            Token t = Advance();
            if (t.Kind != Tok.Int)
            {
                throw Error("Expected an integer.", t);
            }

            return int.Parse(t.Text, CultureInfo.InvariantCulture);
        }

        private static bool IsPunct(Token t, string text) => t.Kind == Tok.Punct && t.Text == text;

        private static ParseException Error(string message, Token t) =>
            new ParseException(message + (t.Kind == Tok.End ? " (end of file)" : " (at '" + t.Text + "')"), t.Line, t.Column);

        private sealed class ParseException : Exception
        {
            public ParseException(string message, int line, int column)
                : base(message)
            {
                Line = line;
                Column = column;
            }

            public int Line { get; }

            public int Column { get; }
        }
    }
}
